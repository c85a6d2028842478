"""Profile completion: role, institution, and student status by a confirmed academic address."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from api.accounts.passwords import hash_password
from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    account_pages,
    create_account,
    fresh_email,
    link_path,
    mail_settings,
    submit,
    token_of,
)
from tests.support.smtp import SmtpServer


async def test_a_student_confirms_an_academic_address(
    migrated: Settings, smtp: SmtpServer, database: Database
) -> None:
    settings = mail_settings(migrated, smtp, academic_email_domains=frozenset({"uni.example"}))
    account = await create_account(database, password_hash=await hash_password(PASSWORD))
    assert account.email is not None
    async with account_pages(settings) as browser:
        signed_in = await submit(
            browser,
            f"{PAGES}/sign-in",
            {"email": account.email, "password": PASSWORD, "next": "/hub/", "action": "password"},
        )
        assert signed_in.headers["location"] == f"{PAGES}/profile"
        profile = await browser.get(signed_in.headers["location"])
        assert "uni.example" in profile.text

        outside = await submit(
            browser,
            f"{PAGES}/profile",
            {"role": "student", "institution": "Uni", "student_email": "ada@mail.example"},
            page=f"{PAGES}/profile",
        )
        assert outside.status_code == 422 and "not on a domain" in outside.text
        assert 'value="ada@mail.example"' in outside.text

        student_address = fresh_email("ada").replace("example.org", "cs.uni.example")
        done = await submit(
            browser,
            f"{PAGES}/profile",
            {"role": "student", "institution": "Uni", "student_email": student_address},
            page=f"{PAGES}/profile",
        )
        assert done.status_code == 303
        welcome = await browser.get(done.headers["location"])
        assert welcome.status_code == 200 and student_address in welcome.text
        [mail] = smtp.inbox.to(student_address)
        assert mail.message["Subject"] == "Confirm your student address for DATAZENtr"
        [link] = mail.links()
        confirmed = await submit(
            browser, f"{PAGES}/verify", {"token": token_of(link)}, page=link_path(link)
        )
        assert confirmed.status_code == 303
    async with database.sessionmaker() as session:
        stored = await session.scalar(select(Account).where(Account.id == account.id))
        assert stored is not None
        assert (stored.role, stored.institution) == ("student", "Uni")
        assert stored.student_email == student_address and stored.student_verified_at


async def test_the_profile_needs_a_session(browser: httpx.AsyncClient) -> None:
    answer = await browser.get(f"{PAGES}/profile")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{PAGES}/sign-in?next=")


async def test_a_new_address_counts_once_its_link_is_opened(
    browser: httpx.AsyncClient, smtp: SmtpServer, database: Database
) -> None:
    account = await create_account(database, password_hash=await hash_password(PASSWORD))
    taken = await create_account(database)
    assert account.email is not None and taken.email is not None
    await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": account.email, "password": PASSWORD, "next": "/hub/", "action": "password"},
    )
    new_address = fresh_email("moved")
    for_new = await submit(browser, f"{PAGES}/email", {"email": new_address})
    for_taken = await submit(browser, f"{PAGES}/email", {"email": taken.email})
    assert for_new.status_code == for_taken.status_code == 200
    assert for_new.text.replace(new_address, "A") == for_taken.text.replace(taken.email, "A")
    assert smtp.inbox.to(taken.email) == []
    [link] = smtp.inbox.to(new_address)[0].links()
    async with database.sessionmaker() as session:
        unchanged = await session.get(Account, account.id)
        assert unchanged is not None and unchanged.email == account.email
    moved = await submit(
        browser, f"{PAGES}/verify", {"token": token_of(link)}, page=link_path(link)
    )
    assert moved.status_code == 303
    async with database.sessionmaker() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None and stored.email == new_address
        assert stored.email_verified_at is not None


async def test_a_first_sign_in_for_the_hub_carries_on_there_after_the_profile(
    browser: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database, password_hash=await hash_password(PASSWORD))
    assert account.email is not None
    authorize = "/services/api/oauth2/authorize?client_id=jupyterhub&state=s1"
    signed_in = await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": account.email, "password": PASSWORD, "next": authorize, "action": "password"},
    )
    profile_url = signed_in.headers["location"]
    assert profile_url.startswith(f"{PAGES}/profile?next=")
    profile = await browser.get(profile_url)
    assert 'value="/services/api/oauth2/authorize?client_id=jupyterhub&amp;state=s1"' in (
        profile.text
    )
    done = await submit(
        browser,
        f"{PAGES}/profile",
        {"role": "developer", "institution": "", "next": authorize},
        page=profile_url,
    )
    welcome = await browser.get(done.headers["location"])
    assert 'href="/services/api/oauth2/authorize?client_id=jupyterhub&amp;state=s1"' in (
        welcome.text
    )
    assert "Continue" in welcome.text
