"""Sign-up through the account pages: mail, verification link, profile, welcome."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from api.accounts import links
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountToken
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


async def sign_up(
    browser: httpx.AsyncClient, email: str, *, password: str = PASSWORD, name: str = "Ada Lovelace"
) -> httpx.Response:
    return await submit(
        browser,
        f"{PAGES}/sign-up",
        {"name": name, "email": email, "password": password, "terms": "yes"},
    )


async def account_by_email(database: Database, email: str) -> Account | None:
    async with database.sessionmaker() as session:
        account: Account | None = await session.scalar(
            select(Account).where(Account.email == email)
        )
        return account


async def test_a_visitor_signs_up_verifies_completes_the_profile_and_is_welcomed(
    browser: httpx.AsyncClient, smtp: SmtpServer, database: Database
) -> None:
    email = fresh_email("ada.lovelace")
    answer = await sign_up(browser, email)
    assert answer.status_code == 200 and "Check your mail" in answer.text
    [mail] = smtp.inbox.to(email)
    assert mail.message["Subject"] == "Confirm your e-mail address for DATAZENtr"
    [link] = mail.links()
    assert link.startswith("http://hub/services/api/accounts/verify?token=")

    # Opening the link (as a mail scanner would) does not use it up.
    for _ in range(2):
        shown = await browser.get(link_path(link))
        assert shown.status_code == 200 and "Confirm my address" in shown.text
    verified = await submit(
        browser, f"{PAGES}/verify", {"token": token_of(link)}, page=link_path(link)
    )
    assert verified.status_code == 303
    assert verified.headers["location"] == f"{PAGES}/profile"

    profile = await browser.get(verified.headers["location"])
    assert profile.status_code == 200
    for label in ('for="role-student"', 'for="role-developer"', 'for="institution"'):
        assert label in profile.text
    done = await submit(
        browser,
        f"{PAGES}/profile",
        {"role": "developer", "institution": "Analytical Engines Ltd", "next": "/hub/"},
        page=f"{PAGES}/profile",
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"{PAGES}/welcome")
    welcome = await browser.get(done.headers["location"])
    assert welcome.status_code == 200
    assert "Welcome, Ada Lovelace" in welcome.text and "DATAZENtr" in welcome.text

    account = await account_by_email(database, email)
    assert account is not None and account.email_verified_at is not None
    assert account.institution == "Analytical Engines Ltd" and account.role == "developer"
    assert re.fullmatch(r"ada-lovelace-[0-9a-f]{10}", account.username)
    assert account.username in welcome.text
    async with database.sessionmaker() as session:
        events = (
            await session.scalars(
                select(Event).where(Event.stream == f"account:{account.id}").order_by(Event.id)
            )
        ).all()
    assert [e.type for e in events] == [
        "account.signed_up",
        "account.email_verified",
        "account.signed_in",
        "account.profile_completed",
    ]
    assert events[2].payload["method"] == "verify_email"

    # The link worked once; now it says so and offers a new one.
    again = await submit(
        browser, f"{PAGES}/verify", {"token": token_of(link)}, page=f"{PAGES}/forgot"
    )
    assert again.status_code == 400
    assert "already been used" in again.text and f'href="{PAGES}/verify/resend"' in again.text


async def test_a_sign_up_for_an_existing_address_reads_the_same_and_mails_the_owner(
    browser: httpx.AsyncClient, smtp: SmtpServer, database: Database
) -> None:
    owner = await create_account(database, display_name="Grace Hopper")
    assert owner.email is not None
    newcomer = fresh_email("newcomer")
    for_owner = await sign_up(browser, owner.email, name="Someone Else")
    for_newcomer = await sign_up(browser, newcomer, name="Someone Else")
    assert for_owner.status_code == for_newcomer.status_code == 200
    assert for_owner.text.replace(owner.email, "ADDRESS") == for_newcomer.text.replace(
        newcomer, "ADDRESS"
    )
    [told] = smtp.inbox.to(owner.email)
    assert "Someone tried to sign up" in told.message["Subject"]
    assert "Hello Grace Hopper" in told.text and "/services/api/accounts/forgot" in told.text
    [welcome] = smtp.inbox.to(newcomer)
    assert "Confirm your e-mail address" in welcome.message["Subject"]
    unchanged = await account_by_email(database, owner.email)
    assert unchanged is not None and unchanged.display_name == "Grace Hopper"


async def test_a_form_without_its_token_is_refused(
    browser: httpx.AsyncClient, smtp: SmtpServer, database: Database
) -> None:
    email = fresh_email()
    form = {"name": "Mallory", "email": email, "password": PASSWORD, "terms": "yes"}
    await browser.get(f"{PAGES}/sign-up")  # the browser has its cookie, but no token is sent
    refused = await browser.post(f"{PAGES}/sign-up", data=form)
    assert refused.status_code == 403 and "security token" in refused.text
    forged = await browser.post(f"{PAGES}/sign-up", data={**form, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert await account_by_email(database, email) is None and smtp.inbox.count() == 0


async def test_bad_input_shows_the_form_again_with_the_reason(
    browser: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    email = fresh_email()
    weak = await sign_up(browser, email, password="password123")
    assert weak.status_code == 422
    assert "most common" in weak.text and 'aria-invalid="true"' in weak.text
    assert f'value="{email}"' in weak.text and 'value="Ada Lovelace"' in weak.text
    no_terms = await submit(
        browser,
        f"{PAGES}/sign-up",
        {"name": "Ada", "email": email, "password": PASSWORD},
    )
    assert no_terms.status_code == 422 and "Accept the terms" in no_terms.text
    bad_address = await sign_up(browser, "ada-at-example.org")
    assert bad_address.status_code == 422 and "name@example.org" in bad_address.text
    assert smtp.inbox.count() == 0


async def test_clashing_names_get_a_suffix(browser: httpx.AsyncClient, database: Database) -> None:
    local = fresh_email("clash").partition("@")[0]
    for domain in ("one.example", "two.example"):
        assert (await sign_up(browser, f"{local}@{domain}")).status_code == 200
    first = await account_by_email(database, f"{local}@one.example")
    second = await account_by_email(database, f"{local}@two.example")
    assert first is not None and second is not None
    assert (first.username, second.username) == (local, f"{local}-2")


async def test_tampered_and_expired_links_say_so_and_offer_a_new_one(
    browser: httpx.AsyncClient, smtp: SmtpServer, database: Database
) -> None:
    email = fresh_email()
    await sign_up(browser, email)
    [link] = smtp.inbox.to(email)[0].links()
    token = token_of(link)
    tampered = await browser.get(f"{PAGES}/verify", params={"token": token[:-3] + "xyz"})
    assert tampered.status_code == 400 and "not valid" in tampered.text
    assert "Send a new confirmation link" in tampered.text
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountToken).where(AccountToken.token_hash == links.token_hash(token))
        )
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        await session.commit()
    expired = await browser.get(link_path(link))
    assert expired.status_code == 400 and "expired" in expired.text

    # A new link from the resend page works.
    resent = await submit(browser, f"{PAGES}/verify/resend", {"email": email})
    assert resent.status_code == 200 and "Check your mail" in resent.text
    new_link = smtp.inbox.to(email)[-1].links()[0]
    assert new_link != link
    used = await submit(
        browser, f"{PAGES}/verify", {"token": token_of(new_link)}, page=f"{PAGES}/forgot"
    )
    assert used.status_code == 303


async def test_an_operator_can_close_sign_up_or_keep_it_to_some_domains(
    migrated: Settings, smtp: SmtpServer, database: Database
) -> None:
    closed = mail_settings(migrated, smtp, open_signup=False)
    async with account_pages(closed) as browser:
        page = await browser.get(f"{PAGES}/sign-up")
        assert page.status_code == 403 and "Sign-up is closed" in page.text
        await browser.get(f"{PAGES}/sign-in")  # a page with a form token
        email = fresh_email()
        answer = await submit(
            browser,
            f"{PAGES}/sign-up",
            {"name": "Ada", "email": email, "password": PASSWORD, "terms": "yes"},
            page=f"{PAGES}/forgot",
        )
        assert answer.status_code == 403 and await account_by_email(database, email) is None

    some = mail_settings(migrated, smtp, signup_email_domains=frozenset({"uni.example"}))
    async with account_pages(some) as browser:
        page = await browser.get(f"{PAGES}/sign-up")
        assert "Sign-up is open to addresses at uni.example." in page.text
        outside = await sign_up(browser, fresh_email())
        assert outside.status_code == 422 and "uni.example only" in outside.text
        inside = fresh_email().replace("example.org", "cs.uni.example")
        assert (await sign_up(browser, inside)).status_code == 200
        assert await account_by_email(database, inside) is not None
    assert smtp.inbox.count() == 1


async def test_where_a_visitor_was_going_is_carried_through_sign_up_and_the_mail(
    browser: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    going = "/services/api/accounts/settings"
    sign_in = await browser.get(f"{PAGES}/sign-in", params={"next": going})
    create = re.search(r'href="([^"]*sign-up\?[^"]*)"', sign_in.text)
    assert create, "the sign-in page links to sign-up"
    sign_up_path = create.group(1).replace("&amp;", "&")
    assert "next=%2Fservices%2Fapi%2Faccounts%2Fsettings" in sign_up_path
    email = fresh_email("going")
    answer = await submit(
        browser,
        f"{PAGES}/sign-up",
        {"name": "Ada", "email": email, "password": PASSWORD, "terms": "yes", "next": going},
        page=sign_up_path,
    )
    assert answer.status_code == 200, answer.text
    [link] = smtp.inbox.to(email)[-1].links()
    verified = await submit(
        browser, f"{PAGES}/verify", {"token": token_of(link)}, page=link_path(link)
    )
    # Profile first (a new account), then on to where they were going.
    assert (
        verified.headers["location"]
        == f"{PAGES}/profile?next=%2Fservices%2Fapi%2Faccounts%2Fsettings"
    )
