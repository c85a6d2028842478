"""The sign-in methods page: a signed-in person links another provider, and unlinks one as
long as another way in remains."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountIdentity
from tests.support.accounts import (
    PAGES,
    account_pages,
    create_person,
    csrf_token,
    fresh_email,
    sign_in,
)
from tests.support.outside_providers import (
    GitHubFake,
    GitHubPerson,
    come_back,
    github_fake,
    start_sign_in,
    with_github,
)

METHODS = f"{PAGES}/settings/sign-in-methods"


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with github_fake() as fake:
        yield fake


@pytest.fixture
def settings(account_settings: Settings, github: GitHubFake) -> Settings:
    return with_github(account_settings.model_copy(update={"authenticator": "native"}), github)


@pytest.fixture
async def browser(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with account_pages(settings) as client:
        yield client


def person_at_github(email: str | None = None) -> GitHubPerson:
    number = uuid.uuid4().int % 10**8
    address = email or fresh_email("gh")
    return GitHubPerson(
        id=number,
        login=f"dev{number}",
        name=None,
        emails=[{"email": address, "primary": True, "verified": True, "visibility": None}],
    )


async def account_with(
    database: Database, *, password: bool, verified: bool, github_id: int | None = None
) -> Account:
    account = await create_person(
        database, with_password=password, verified=verified, display_name="Test Person"
    )
    if github_id is not None:
        async with database.sessionmaker() as session:
            session.add(
                AccountIdentity(
                    id=uuid.uuid4(),
                    account_id=account.id,
                    provider="github",
                    subject=str(github_id),
                    email=account.email,
                )
            )
            await session.commit()
    return account


async def sign_in_with_github(
    browser: httpx.AsyncClient, github: GitHubFake, person: GitHubPerson
) -> None:
    github.person = person
    answer = await come_back(browser, await github.browse(await start_sign_in(browser, "github")))
    assert answer.status_code == 303, answer.text


def link_button(page: str) -> str:
    match = re.search(r'href="([^"]*/external/github/start\?link=[^"]+)"', page)
    assert match, "the page has no Link GitHub button"
    return html.unescape(match.group(1))


def identity_ids(page: str) -> list[str]:
    return re.findall(r'name="identity" value="([^"]+)"', page)


async def identities(database: Database, account: Account) -> list[str]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(AccountIdentity.provider).where(AccountIdentity.account_id == account.id)
        )
        return list(rows.all())


async def test_a_signed_in_person_links_github_from_the_page(
    browser: httpx.AsyncClient, github: GitHubFake, database: Database
) -> None:
    account = await account_with(database, password=True, verified=True)
    await sign_in(browser, account)
    page = await browser.get(METHODS)
    assert page.status_code == 200 and "Password" in page.text
    # A different address at GitHub does not matter: the person proved both.
    github.person = person_at_github()
    authorize_url = (await browser.get(link_button(page.text))).headers["location"]
    answer = await come_back(browser, await github.browse(authorize_url))
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{METHODS}?linked=github"
    shown = await browser.get(answer.headers["location"])
    assert "GitHub is linked to your account" in shown.text
    assert len(identity_ids(shown.text)) == 1
    # Linked already: what the page offers now is a second GitHub account.
    assert ">Link GitHub<" in page.text and ">Link GitHub<" not in shown.text
    assert ">Link another GitHub account<" in shown.text
    assert await identities(database, account) == ["github"]
    async with database.sessionmaker() as session:
        event = await session.scalar(
            select(Event).where(
                Event.stream == f"account:{account.id}", Event.type == "account.identity_linked"
            )
        )
    assert event is not None and event.payload["via"] == "signed_in"


async def test_linking_needs_the_pages_own_token_and_a_session(
    browser: httpx.AsyncClient, database: Database
) -> None:
    signed_out = await browser.get(f"{PAGES}/external/github/start", params={"link": "x"})
    assert (
        signed_out.status_code == 303
        and "/accounts/sign-in?next=" in signed_out.headers["location"]
    )
    account = await account_with(database, password=True, verified=True)
    await sign_in(browser, account)
    # A link another site made (it cannot know this browser's form token).
    forged = await browser.get(f"{PAGES}/external/github/start", params={"link": "forged"})
    assert forged.status_code == 403 and "security token" in forged.text
    assert await identities(database, account) == []


async def test_an_identity_of_another_account_is_not_moved(
    browser: httpx.AsyncClient, github: GitHubFake, database: Database
) -> None:
    person = person_at_github()
    await account_with(database, password=True, verified=True, github_id=person.id)
    account = await account_with(database, password=True, verified=True)
    await sign_in(browser, account)
    page = await browser.get(METHODS)
    github.person = person
    authorize_url = (await browser.get(link_button(page.text))).headers["location"]
    answer = await come_back(browser, await github.browse(authorize_url))
    assert answer.status_code == 400 and "linked to another account" in answer.text
    assert await identities(database, account) == []


async def test_unlinking_keeps_a_way_in(
    settings: Settings, github: GitHubFake, database: Database
) -> None:
    # A password remains: unlinked.
    with_password_person = person_at_github()
    with_password = await account_with(
        database, password=True, verified=True, github_id=with_password_person.id
    )
    async with account_pages(settings) as browser:
        await sign_in(browser, with_password)
        page = await browser.get(METHODS)
        [identity] = identity_ids(page.text)
        done = await browser.post(
            f"{METHODS}/unlink", data={"identity": identity, "csrf_token": csrf_token(page.text)}
        )
        assert done.status_code == 303 and done.headers["location"] == f"{METHODS}?unlinked=github"
    assert await identities(database, with_password) == []

    # No password, but a verified address (sign-in links reach it): unlinked too.
    mailed_person = person_at_github()
    mailed = await account_with(database, password=False, verified=True, github_id=mailed_person.id)
    async with account_pages(settings) as browser:
        await sign_in_with_github(browser, github, mailed_person)
        page = await browser.get(METHODS)
        [identity] = identity_ids(page.text)
        done = await browser.post(
            f"{METHODS}/unlink", data={"identity": identity, "csrf_token": csrf_token(page.text)}
        )
        assert done.status_code == 303
    assert await identities(database, mailed) == []

    # No password and an unconfirmed address: GitHub is the only way in and stays.
    only_person = person_at_github()
    only = await account_with(database, password=False, verified=False, github_id=only_person.id)
    async with account_pages(settings) as browser:
        await sign_in_with_github(browser, github, only_person)
        page = await browser.get(METHODS)
        assert identity_ids(page.text) == [] and "The only way in" in page.text
        async with database.sessionmaker() as session:
            row = await session.scalar(
                select(AccountIdentity).where(AccountIdentity.account_id == only.id)
            )
            assert row is not None
        # The page has no unlink form; its form token is in the Link buttons.
        token = parse_qs(urlsplit(link_button(page.text)).query)["link"][0]
        refused = await browser.post(
            f"{METHODS}/unlink", data={"identity": str(row.id), "csrf_token": token}
        )
        assert refused.status_code == 409 and "only way into your account" in refused.text
        # Without the form token nothing is even considered.
        forged = await browser.post(f"{METHODS}/unlink", data={"identity": str(row.id)})
        assert forged.status_code == 403
    assert await identities(database, only) == ["github"]


async def test_the_page_is_for_signed_in_people(browser: httpx.AsyncClient) -> None:
    answer = await browser.get(METHODS)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{PAGES}/sign-in?next=")
