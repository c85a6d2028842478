"""A forgotten password: mail, a single-use link, a new password, every other session out."""

from __future__ import annotations

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
    create_person,
    fresh_email,
    link_path,
    submit,
    token_of,
)
from tests.support.smtp import SmtpServer

OLD = PASSWORD  # the one create_person gives
NEW = "quartz-heron-lantern-77"


async def person(database: Database) -> Account:
    return await create_person(database, display_name="Test Person")


async def sign_in(browser: httpx.AsyncClient, email: str, password: str) -> int:
    answer = await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": email, "password": password, "next": "/hub/", "action": "password"},
    )
    return answer.status_code


async def signed_in(browser: httpx.AsyncClient) -> bool:
    return (await browser.get(f"{PAGES}/welcome")).status_code == 200


async def test_a_reset_sets_the_password_and_signs_out_everywhere_else(
    account_settings: Settings, database: Database, smtp: SmtpServer
) -> None:
    account = await person(database)
    assert account.email is not None
    email = account.email
    async with (
        account_pages(account_settings) as laptop,
        account_pages(account_settings) as phone,
        account_pages(account_settings) as library,
    ):
        assert await sign_in(laptop, email, OLD) == 303
        assert await sign_in(phone, email, OLD) == 303
        unknown = fresh_email("nobody")
        for_account = await submit(library, f"{PAGES}/forgot", {"email": email})
        for_nobody = await submit(library, f"{PAGES}/forgot", {"email": unknown})
        assert for_account.status_code == for_nobody.status_code == 200
        assert for_account.text.replace(email, "A") == for_nobody.text.replace(unknown, "A")
        assert smtp.inbox.to(unknown) == []
        [mail] = smtp.inbox.to(email)
        assert mail.message["Subject"] == "Choose a new password for DATAZENtr"
        assert "30 minutes" in mail.text
        [link] = mail.links()

        form = await library.get(link_path(link))
        assert form.status_code == 200 and 'for="password"' in form.text
        # A weak password is refused and the link still works.
        weak = await submit(
            library,
            f"{PAGES}/reset",
            {"token": token_of(link), "password": "password1234"},
            page=link_path(link),
        )
        assert weak.status_code == 422 and "most common" in weak.text
        done = await submit(
            library,
            f"{PAGES}/reset",
            {"token": token_of(link), "password": NEW},
            page=link_path(link),
        )
        assert done.status_code == 303
        assert await signed_in(library)
        assert not await signed_in(laptop) and not await signed_in(phone)

        assert await sign_in(laptop, email, OLD) == 401
        assert await sign_in(phone, email, NEW) == 303
        reused = await library.get(link_path(link))
        assert reused.status_code == 400 and "already been used" in reused.text
        assert "Ask for a new reset link" in reused.text
    async with database.sessionmaker() as session:
        types = (
            await session.scalars(select(Event.type).where(Event.stream == f"account:{account.id}"))
        ).all()
    assert "account.reset_requested" in types and "account.password_reset" in types


async def test_an_expired_reset_link_offers_a_new_one(
    browser: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    account = await person(database)
    assert account.email is not None
    await submit(browser, f"{PAGES}/forgot", {"email": account.email})
    [link] = smtp.inbox.to(account.email)[0].links()
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountToken).where(AccountToken.token_hash == links.token_hash(token_of(link)))
        )
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    expired = await browser.get(link_path(link))
    assert expired.status_code == 400 and "expired" in expired.text
    assert f'href="{PAGES}/forgot"' in expired.text
    posted = await submit(
        browser,
        f"{PAGES}/reset",
        {"token": token_of(link), "password": NEW},
        page=f"{PAGES}/forgot",
    )
    assert posted.status_code == 400
    assert await sign_in(browser, account.email, OLD) == 303
