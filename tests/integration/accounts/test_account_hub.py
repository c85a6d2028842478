"""Personal API tokens and account deletion against a real JupyterHub (MockHub in this
process, with the platform's services and hub roles): the api manages the person's hub
user with its own service token, as it does in production."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from jupyterhub import orm
from jupyterhub.tests.mocking import MockHub
from jupyterhub.tests.utils import add_user
from sqlalchemy import func, select

from api.accounts.sessions import SESSION_COOKIE
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountIdentity, AccountSession
from tests.support.accounts import PASSWORD, create_person, csrf_token, sign_in, submit
from tests.support.mock_hub import MockHubUser
from tests.support.own_account import (
    SETTINGS_PAGES,
    hub_api_url,
    pages_with_hub,
)
from tests.support.smtp import SmtpServer

# The hub's event loop is the module's own: a stopping hub cancels every task of its loop.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TOKENS = f"{SETTINGS_PAGES}/tokens"
REVOKE_FORM = re.compile(r'action="[^"]*/settings/tokens/(a[0-9]+)/revoke"')
SECRET_FIELD = re.compile(r'id="token-value"[^>]* value="([0-9a-f]+)"')


@pytest_asyncio.fixture(loop_scope="module")
async def browser(
    account_settings: Settings, hub: MockHub, service_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The account pages, their api talking to the module's hub (``hub`` in conftest)."""
    async with pages_with_hub(account_settings, hub_api_url(hub), service_token) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module")
async def person(db: Database, browser: httpx.AsyncClient, hub: MockHub) -> Account:
    """A signed-in account whose hub user exists (they signed in to the hub before)."""
    account = await create_person(db)
    add_user(hub.db, hub, name=account.username)
    await sign_in(browser, account)
    return account


def hub_as(hub: MockHub, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=hub_api_url(hub) + "/", headers={"Authorization": f"token {token}"}, timeout=60
    )


async def create_token(
    browser: httpx.AsyncClient, note: str, *scopes: str, expires: str = "30"
) -> httpx.Response:
    form = {"note": note, "expires": expires} | {f"scope_{key}": "yes" for key in scopes}
    return await submit(browser, TOKENS, form)


def secret_of(page: httpx.Response) -> str:
    match = SECRET_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


async def event_types(db: Database, account: Account) -> list[str]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(Event.type).where(Event.stream == f"account:{account.id}").order_by(Event.id)
        )
        return list(rows.all())


async def test_a_person_the_hub_does_not_know_yet_is_told_to_sign_in_there_first(
    db: Database, browser: httpx.AsyncClient, hub: MockHub
) -> None:
    account = await create_person(db)
    await sign_in(browser, account)
    page = await browser.get(TOKENS)
    assert page.status_code == 200
    assert "The hub does not know you yet" in page.text and 'href="/hub/"' in page.text
    assert 'name="note"' not in page.text
    assert orm.User.find(hub.db, account.username) is None


async def test_a_new_token_is_shown_once_and_works_on_the_hub_with_its_scopes_only(
    person: Account, browser: httpx.AsyncClient, hub: MockHub, db: Database
) -> None:
    empty = await browser.get(TOKENS)
    assert empty.status_code == 200 and "You have no API tokens" in empty.text
    created = await create_token(browser, "laptop scripts", "api", "read_user", expires="7")
    assert created.status_code == 200, created.text
    secret = secret_of(created)
    assert "only time it is shown" in created.text
    assert "Call the platform API" in created.text and "Read your hub user" in created.text

    listed = await browser.get(TOKENS)
    assert "laptop scripts" in listed.text and secret not in listed.text
    [token_id] = REVOKE_FORM.findall(listed.text)

    async with hub_as(hub, secret) as as_token:
        me = await as_token.get("user")
        assert me.status_code == 200 and me.json()["name"] == person.username
        assert set(me.json()["scopes"]) >= {
            "access:services!service=api",
            f"read:users!user={person.username}",
        }
        # Nothing it was not given: not the person's tokens, nor their servers.
        assert (await as_token.get(f"users/{person.username}/tokens")).status_code == 403
        assert (await as_token.post(f"users/{person.username}/server")).status_code == 403
    orm_token = orm.APIToken.find(hub.db, secret)
    assert orm_token is not None and orm_token.api_id == token_id
    assert orm_token.note == "laptop scripts" and orm_token.expires_at is not None
    expires = orm_token.expires_at.replace(tzinfo=UTC)
    assert datetime.now(UTC) + timedelta(days=6) < expires < datetime.now(UTC) + timedelta(days=8)
    assert "account.token_created" in await event_types(db, person)


async def test_an_everything_token_does_what_the_person_may_and_no_more(
    person: Account, browser: httpx.AsyncClient, hub: MockHub
) -> None:
    secret = secret_of(await create_token(browser, "all of it", "everything", expires="never"))
    async with hub_as(hub, secret) as as_token:
        own = await as_token.get(f"users/{person.username}/tokens")
        assert own.status_code == 200
        assert [t["note"] for t in own.json()["api_tokens"]] == ["all of it"]
        assert (await as_token.get("users")).status_code == 403  # not an admin
    page = await browser.get(TOKENS)
    assert "Until I revoke it" in page.text and "never" in page.text


async def test_revoking_a_token_ends_it_on_the_hub(
    person: Account, browser: httpx.AsyncClient, hub: MockHub, db: Database
) -> None:
    secret = secret_of(await create_token(browser, "ci", "api"))
    [token_id] = REVOKE_FORM.findall((await browser.get(TOKENS)).text)
    revoked = await submit(browser, f"{TOKENS}/{token_id}/revoke", {}, page=TOKENS)
    assert (
        revoked.status_code == 303 and revoked.headers["location"] == f"{TOKENS}?done=token_revoked"
    )
    after = await browser.get(revoked.headers["location"])
    assert "The token was revoked" in after.text and "You have no API tokens" in after.text
    async with hub_as(hub, secret) as as_token:
        assert (await as_token.get("user")).status_code == 403
    assert "account.token_revoked" in await event_types(db, person)

    again = await submit(browser, f"{TOKENS}/{token_id}/revoke", {}, page=TOKENS)
    assert again.headers["location"] == f"{TOKENS}?done=token_gone"


async def test_another_persons_token_cannot_be_revoked(
    person: Account, browser: httpx.AsyncClient, hub: MockHub
) -> None:
    other = MockHubUser(hub, f"other-{uuid.uuid4().hex[:8]}")
    try:
        their_token = orm.APIToken.find(hub.db, other.token)
        assert their_token is not None
        theirs = their_token.api_id
        refused = await submit(browser, f"{TOKENS}/{theirs}/revoke", {}, page=TOKENS)
        assert refused.headers["location"] == f"{TOKENS}?done=token_gone"
        assert (await other.hub.get("user")).status_code == 200
    finally:
        await other.close()


async def test_the_hubs_refusals_read_as_what_to_change(
    person: Account, browser: httpx.AsyncClient, hub: MockHub
) -> None:
    settings = hub.tornado_application.settings
    settings["token_expires_in_max_seconds"] = 7 * 24 * 3600
    try:
        too_long = await create_token(browser, "long", "api", expires="30")
    finally:
        settings["token_expires_in_max_seconds"] = 0
    assert too_long.status_code == 400
    assert "allows tokens for at most 7 days" in too_long.text
    assert 'value="long"' in too_long.text  # the form keeps what was typed

    # A person whose hub user holds no scopes gets no token with any.
    hub_user = orm.User.find(hub.db, person.username)
    assert hub_user is not None
    hub_user.roles = []
    hub.db.commit()
    not_held = await create_token(browser, "api", "api")
    assert not_held.status_code == 400
    assert "Your account may not do some of this" in not_held.text
    assert "access:services!service=api" in not_held.text

    none_chosen = await create_token(browser, "nothing")
    assert none_chosen.status_code == 422 and "Choose at least one" in none_chosen.text
    assert "You have no API tokens" in none_chosen.text


async def test_deleting_the_account_stops_and_deletes_the_hub_user(
    db: Database, browser: httpx.AsyncClient, hub: MockHub, smtp: SmtpServer
) -> None:
    account = await create_person(db)
    assert account.email is not None
    hub_user = MockHubUser(hub, account.username)
    started = await hub_user.start()
    assert started.status_code in (201, 202), started.text
    spawner = hub_user.spawner()
    await sign_in(browser, account)
    secret = secret_of(await create_token(browser, "before deletion", "everything"))
    async with db.sessionmaker() as session:
        session.add(
            AccountIdentity(account_id=account.id, provider="github", subject=uuid.uuid4().hex)
        )
        await session.commit()

    page = await browser.get(f"{SETTINGS_PAGES}/delete")
    assert "deletes your files with it" in page.text
    deleted = await browser.post(
        f"{SETTINGS_PAGES}/delete",
        data={
            "confirm_username": account.username,
            "password": PASSWORD,
            "csrf_token": csrf_token(page.text),
        },
    )
    assert deleted.status_code == 200, deleted.text
    assert "Your account was deleted" in deleted.text
    assert SESSION_COOKIE not in browser.cookies
    assert (await browser.get(SETTINGS_PAGES)).status_code == 303

    # The hub: no user, no server, no token.
    assert orm.User.find(hub.db, account.username) is None
    assert not spawner.active
    async with hub_as(hub, secret) as as_token:
        assert (await as_token.get("user")).status_code == 403
    await hub_user.hub.aclose()

    # The platform: no account, and nothing that hung on it.
    async with db.sessionmaker() as session:
        assert await session.get(Account, account.id) is None
        for model in (AccountSession, AccountIdentity):
            count = await session.scalar(
                select(func.count()).select_from(model).where(model.account_id == account.id)
            )
            assert count == 0, model
        [event] = (
            await session.scalars(
                select(Event).where(
                    Event.stream == f"account:{account.id}", Event.type == "account.deleted"
                )
            )
        ).all()
    assert event.actor is None and event.payload == {"by": "owner", "hub_user": "deleted"}
    [mail] = smtp.inbox.to(account.email)
    assert mail.message["Subject"] == "Your DATAZENtr account was deleted"
    assert account.username in mail.text and "deletes your files with it" in mail.text


async def test_an_account_the_hub_never_knew_is_deleted_too(
    db: Database, browser: httpx.AsyncClient, hub: MockHub
) -> None:
    account = await create_person(db)
    await sign_in(browser, account)
    deleted = await submit(
        browser,
        f"{SETTINGS_PAGES}/delete",
        {"confirm_username": account.username, "password": PASSWORD},
    )
    assert deleted.status_code == 200 and "Your account was deleted" in deleted.text
    async with db.sessionmaker() as session:
        assert await session.get(Account, account.id) is None
        payload = await session.scalar(
            select(Event.payload).where(
                Event.stream == f"account:{account.id}", Event.type == "account.deleted"
            )
        )
    assert payload == {"by": "owner", "hub_user": "absent"}
