"""The sessions page: where a person is signed in, and signing out one, the others, or all."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from sqlalchemy import select

from api.accounts.devices import describe_user_agent
from api.accounts.sessions import SESSION_COOKIE
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountSession
from tests.support.accounts import PAGES, create_person, csrf_token, sign_in
from tests.support.own_account import (
    SETTINGS_PAGES,
    nothing_listening,
    pages_with_hub,
)

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87"
)
SIGN_OUT_FORM = re.compile(r'action="[^"]*/settings/sessions/([0-9a-f-]{36})/sign-out"')


class Browsers:
    """Several browsers (each its own cookies and user agent) on the same account pages."""

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self.settings = settings
        self.stack = stack

    async def open(self, user_agent: str) -> httpx.AsyncClient:
        return await self.stack.enter_async_context(
            pages_with_hub(self.settings, nothing_listening(), "unused", user_agent=user_agent)
        )


@pytest.fixture
async def browsers(account_settings: Settings) -> AsyncIterator[Browsers]:
    async with AsyncExitStack() as stack:
        yield Browsers(account_settings, stack)


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get(SETTINGS_PAGES)).status_code == 200


async def post(client: httpx.AsyncClient, path: str) -> httpx.Response:
    page = await client.get(f"{SETTINGS_PAGES}/sessions")
    return await client.post(path, data={"csrf_token": csrf_token(page.text)})


async def session_ids(database: Database, account: Account) -> list[str]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(AccountSession.id).where(
                AccountSession.account_id == account.id, AccountSession.revoked_at.is_(None)
            )
        )
        return [str(row) for row in rows.all()]


async def event_types(database: Database, account: Account) -> list[str]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(Event.type).where(Event.stream == f"account:{account.id}").order_by(Event.id)
        )
        return list(rows.all())


def test_devices_read_as_people_know_them() -> None:
    assert describe_user_agent(FIREFOX_LINUX) == "Firefox on Linux"
    assert describe_user_agent(SAFARI_IPHONE) == "Safari on iPhone"
    assert describe_user_agent(EDGE_WINDOWS) == "Edge on Windows"
    assert describe_user_agent("python-httpx/0.28.1") == "python-httpx"
    assert describe_user_agent(None) == describe_user_agent("") == "Unknown device"


async def test_the_page_lists_every_signed_in_browser_and_marks_this_one(
    browsers: Browsers, database: Database
) -> None:
    account = await create_person(database)
    laptop, phone = await browsers.open(FIREFOX_LINUX), await browsers.open(SAFARI_IPHONE)
    await sign_in(laptop, account)
    await sign_in(phone, account)
    page = await laptop.get(f"{SETTINGS_PAGES}/sessions")
    assert page.status_code == 200
    assert "Firefox on Linux" in page.text and "Safari on iPhone" in page.text
    assert page.text.count("this browser</span>") == 1
    this_row = page.text.split("this browser</span>")[0].rsplit("<tr", 1)[1]
    assert "Firefox on Linux" in this_row and "Password" in page.text
    assert sorted(SIGN_OUT_FORM.findall(page.text)) == sorted(await session_ids(database, account))


async def test_signing_out_another_browser_ends_only_that_session(
    browsers: Browsers, database: Database
) -> None:
    account = await create_person(database)
    laptop, phone = await browsers.open(FIREFOX_LINUX), await browsers.open(SAFARI_IPHONE)
    await sign_in(laptop, account)
    [laptop_session] = await session_ids(database, account)
    await sign_in(phone, account)
    [phone_session] = set(await session_ids(database, account)) - {laptop_session}

    ended = await post(laptop, f"{SETTINGS_PAGES}/sessions/{phone_session}/sign-out")
    assert ended.status_code == 303
    assert ended.headers["location"] == f"{SETTINGS_PAGES}/sessions?done=session_ended"
    assert "That session was signed out" in (await laptop.get(ended.headers["location"])).text
    assert not await signed_in(phone)
    assert await signed_in(laptop)
    assert "account.session_revoked" in await event_types(database, account)

    again = await post(laptop, f"{SETTINGS_PAGES}/sessions/{phone_session}/sign-out")
    assert again.status_code == 404 and "No such session" in again.text


async def test_another_persons_session_cannot_be_signed_out(
    browsers: Browsers, database: Database
) -> None:
    ada, bob = await create_person(database), await create_person(database, display_name="Bob")
    ada_browser, bob_browser = await browsers.open(FIREFOX_LINUX), await browsers.open(EDGE_WINDOWS)
    await sign_in(ada_browser, ada)
    await sign_in(bob_browser, bob)
    [bobs_session] = await session_ids(database, bob)
    for target in (bobs_session, "not-a-session-id"):
        refused = await post(ada_browser, f"{SETTINGS_PAGES}/sessions/{target}/sign-out")
        assert refused.status_code == 404 and "No such session" in refused.text
    assert await signed_in(bob_browser)
    assert await session_ids(database, bob) == [bobs_session]
    page = await ada_browser.get(f"{SETTINGS_PAGES}/sessions")
    assert bobs_session not in page.text and "Edge on Windows" not in page.text


async def test_signing_out_this_browser_from_the_list_signs_it_out(
    browsers: Browsers, database: Database
) -> None:
    account = await create_person(database)
    laptop = await browsers.open(FIREFOX_LINUX)
    await sign_in(laptop, account)
    [this] = await session_ids(database, account)
    ended = await post(laptop, f"{SETTINGS_PAGES}/sessions/{this}/sign-out")
    assert ended.status_code == 200 and "signed out" in ended.text.lower()
    assert not await signed_in(laptop)


async def test_sign_out_everywhere_else_keeps_only_this_browser(
    browsers: Browsers, database: Database
) -> None:
    account = await create_person(database)
    laptop, phone, work = (
        await browsers.open(FIREFOX_LINUX),
        await browsers.open(SAFARI_IPHONE),
        await browsers.open(EDGE_WINDOWS),
    )
    for browser in (laptop, phone, work):
        await sign_in(browser, account)
    done = await post(laptop, f"{SETTINGS_PAGES}/sessions/sign-out-others")
    assert done.status_code == 303
    assert done.headers["location"] == f"{SETTINGS_PAGES}/sessions?done=others_ended"
    assert [await signed_in(b) for b in (laptop, phone, work)] == [True, False, False]
    assert len(await session_ids(database, account)) == 1
    assert "account.signed_out_elsewhere" in await event_types(database, account)


async def test_sign_out_everywhere_signs_out_this_browser_too(
    browsers: Browsers, database: Database
) -> None:
    account = await create_person(database)
    laptop, phone = await browsers.open(FIREFOX_LINUX), await browsers.open(SAFARI_IPHONE)
    await sign_in(laptop, account)
    await sign_in(phone, account)
    done = await post(laptop, f"{SETTINGS_PAGES}/sessions/sign-out-all")
    assert done.status_code == 200 and "signed out" in done.text.lower()
    assert SESSION_COOKIE not in laptop.cookies
    assert [await signed_in(b) for b in (laptop, phone)] == [False, False]
    assert await session_ids(database, account) == []
    assert "account.signed_out_everywhere" in await event_types(database, account)
    # Signing in again works as before.
    await sign_in(laptop, account)
    assert (await laptop.get(SETTINGS_PAGES)).status_code == 200
    assert (await laptop.get(f"{PAGES}/sign-in")).status_code == 303
