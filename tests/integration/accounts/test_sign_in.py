"""Signing in on the account pages: password, mailed link, lockouts, sign-out, redirects."""

from __future__ import annotations

import re

import bcrypt
import httpx
from sqlalchemy import select

from api.accounts.passwords import hash_password
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    account_pages,
    create_account,
    fresh_email,
    link_path,
    random_client_address,
    submit,
    token_of,
)
from tests.support.smtp import SmtpServer


async def person(database: Database, *, verified: bool = True, stored: str | None = None) -> str:
    """A new account with ``PASSWORD`` (or the ``stored`` hash); its e-mail."""
    account = await create_account(
        database, password_hash=stored or await hash_password(PASSWORD), verified=verified
    )
    assert account.email is not None
    async with database.sessionmaker() as session:
        stored_account = await session.get(Account, account.id)
        assert stored_account is not None
        stored_account.profile_completed_at = stored_account.created_at
        await session.commit()
    return account.email


async def sign_in(
    browser: httpx.AsyncClient, email: str, password: str = PASSWORD, next: str = "/hub/home"
) -> httpx.Response:
    return await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": email, "password": password, "next": next, "action": "password"},
        page=f"{PAGES}/sign-in?next={next}",
    )


async def signed_in(browser: httpx.AsyncClient) -> bool:
    welcome = await browser.get(f"{PAGES}/welcome")
    return welcome.status_code == 200


async def test_a_password_sign_in_goes_to_next_and_holds_a_session(
    browser: httpx.AsyncClient, database: Database
) -> None:
    email = await person(database)
    page = await browser.get(f"{PAGES}/sign-in")
    assert 'for="email"' in page.text and 'for="password"' in page.text
    assert not await signed_in(browser)
    answer = await sign_in(browser, email)
    assert answer.status_code == 303 and answer.headers["location"] == "/hub/home"
    assert await signed_in(browser)
    signed_out = await submit(browser, f"{PAGES}/sign-out", {})
    assert signed_out.status_code == 200 and "You are signed out" in signed_out.text
    assert not await signed_in(browser)


async def test_next_to_another_site_is_ignored(
    browser: httpx.AsyncClient, database: Database
) -> None:
    email = await person(database)
    page = await browser.get(f"{PAGES}/sign-in", params={"next": "https://elsewhere.example/"})
    assert "elsewhere" not in page.text
    answer = await sign_in(browser, email, next="https://elsewhere.example/")
    assert answer.status_code == 303 and answer.headers["location"] == "/hub/"
    again = await browser.get(f"{PAGES}/sign-in", params={"next": "//elsewhere.example/x"})
    assert again.status_code == 303 and again.headers["location"] == "/hub/"


async def test_a_wrong_password_and_an_unknown_address_read_the_same(
    browser: httpx.AsyncClient, database: Database
) -> None:
    email = await person(database)
    unknown = fresh_email("nobody")
    wrong = await sign_in(browser, email, "not-the-password-at-all")
    missing = await sign_in(browser, unknown, "not-the-password-at-all")
    assert wrong.status_code == missing.status_code == 401
    assert "e-mail address or password is not right" in wrong.text
    assert wrong.text.replace(email, "ADDRESS") == missing.text.replace(unknown, "ADDRESS")
    assert not await signed_in(browser)


async def test_five_failures_lock_the_address_with_the_time_to_come_back(
    browser: httpx.AsyncClient, database: Database
) -> None:
    email = await person(database)
    answers = [await sign_in(browser, email, f"wrong-password-{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert re.search(r"Try again after \d\d:\d\d UTC \(in 1[45] minutes\)", answers[-1].text)
    # Even the right password waits now.
    right = await sign_in(browser, email)
    assert right.status_code == 429 and "Try again after" in right.text
    async with database.sessionmaker() as session:
        account = await session.scalar(select(Account).where(Account.email == email))
        assert account is not None
        types = (
            await session.scalars(select(Event.type).where(Event.stream == f"account:{account.id}"))
        ).all()
    assert types.count("account.sign_in_failed") == 5 and "account.locked" in types


async def test_many_failures_from_one_network_lock_it_for_every_account(
    account_settings: Settings, database: Database
) -> None:
    email = await person(database)
    crowded, other = random_client_address(), random_client_address()
    async with account_pages(account_settings, client_address=crowded) as browser:
        for n in range(20):
            await sign_in(browser, fresh_email(f"guess{n}"), "not-the-password-at-all")
        refused = await sign_in(browser, email)
        assert refused.status_code == 429
    async with account_pages(account_settings, client_address=other) as elsewhere:
        assert (await sign_in(elsewhere, email)).status_code == 303


async def test_an_old_native_authenticator_hash_is_upgraded(
    browser: httpx.AsyncClient, database: Database
) -> None:
    old = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    email = await person(database, stored=old)
    assert (await sign_in(browser, email)).status_code == 303
    async with database.sessionmaker() as session:
        account = await session.scalar(select(Account).where(Account.email == email))
        assert account is not None and account.password_hash is not None
        assert account.password_hash.startswith("$argon2id$")


async def test_an_unverified_address_is_asked_to_confirm_first(
    browser: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    email = await person(database, verified=False)
    answer = await sign_in(browser, email)
    assert answer.status_code == 303 and answer.headers["location"] == f"{PAGES}/verify/pending"
    pending = await browser.get(f"{PAGES}/verify/pending")
    assert "Confirm your address" in pending.text and email in pending.text
    resent = await submit(
        browser, f"{PAGES}/verify/resend", {"email": email}, page=f"{PAGES}/verify/pending"
    )
    assert resent.status_code == 200
    [mail] = smtp.inbox.to(email)
    assert "Confirm your e-mail address" in mail.message["Subject"]


async def test_a_magic_link_signs_in_once(
    browser: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    email = await person(database)
    unknown = fresh_email("nobody")

    async def ask(address: str) -> httpx.Response:
        return await submit(
            browser,
            f"{PAGES}/sign-in",
            {"email": address, "password": "", "next": "/hub/spawn", "action": "magic_link"},
        )

    for_account, for_nobody = await ask(email), await ask(unknown)
    assert for_account.status_code == for_nobody.status_code == 200
    assert for_account.text.replace(email, "A") == for_nobody.text.replace(unknown, "A")
    assert smtp.inbox.to(unknown) == []
    [mail] = smtp.inbox.to(email)
    assert mail.message["Subject"] == "Your sign-in link for DATAZENtr"
    [link] = mail.links()
    assert "15 minutes" in mail.text
    shown = await browser.get(link_path(link))
    assert shown.status_code == 200 and "Sign me in" in shown.text
    assert not await signed_in(browser)
    used = await submit(browser, f"{PAGES}/magic", {"token": token_of(link)}, page=link_path(link))
    assert used.status_code == 303 and used.headers["location"] == "/hub/spawn"
    assert await signed_in(browser)
    reused = await submit(
        browser, f"{PAGES}/magic", {"token": token_of(link)}, page=f"{PAGES}/forgot"
    )
    assert reused.status_code == 400 and "already been used" in reused.text
    assert "Ask for a new sign-in link" in reused.text


async def test_mail_requests_are_limited_alike_for_any_address(
    browser: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    email = await person(database)
    unknown = fresh_email("nobody")
    answers: dict[str, list[int]] = {}
    for address in (email, unknown):
        answers[address] = []
        for _ in range(4):
            answer = await submit(browser, f"{PAGES}/forgot", {"email": address})
            answers[address].append(answer.status_code)
    assert answers[email] == answers[unknown] == [200, 200, 200, 429]
    assert len(smtp.inbox.to(email)) == 3


async def test_many_mail_requests_from_one_network_are_refused(
    browser: httpx.AsyncClient,
) -> None:
    statuses = [
        (await submit(browser, f"{PAGES}/forgot", {"email": fresh_email(f"n{n}")})).status_code
        for n in range(31)
    ]
    assert statuses == [200] * 30 + [429]
