"""A deleted account's user name is retired: no later sign-up, bulk import or carried-over
NativeAuthenticator user gets it (and with it the old person's home volume and records).

Deletion runs through the account pages against a real JupyterHub (MockHub in this process,
with the platform's services and roles), as in production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from jupyterhub import orm
from jupyterhub.tests.mocking import MockHub
from jupyterhub.tests.utils import add_user
from sqlalchemy import func, select

from api.accounts import bulk_import
from api.accounts.mail import Mailer
from api.accounts.native_import import NativeUser, import_native_users
from api.accounts.usernames import base_username, retire_username, unique_username
from api.core.config import Settings
from api.core.db import Database
from api.models import RetiredUsername, UserProfile
from api.models.account import Account
from tests.support.accounts import PAGES, PASSWORD, create_account, create_person, sign_in, submit
from tests.support.admin_pages import person_with_password
from tests.support.own_account import (
    SETTINGS_PAGES,
    hub_api_url,
    pages_with_hub,
)
from tests.support.smtp import SmtpServer

# The hub's event loop is the module's own: a stopping hub cancels every task of its loop.
pytestmark = [pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def browser(
    account_settings: Settings, hub: MockHub, service_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The account pages, their api talking to the module's hub (``hub`` in conftest)."""
    async with pages_with_hub(account_settings, hub_api_url(hub), service_token) as client:
        yield client


async def username_of(db: Database, email: str) -> str | None:
    async with db.sessionmaker() as session:
        name: str | None = await session.scalar(
            select(Account.username).where(func.lower(Account.email) == email.lower())
        )
        return name


async def sign_up(browser: httpx.AsyncClient, email: str, name: str) -> None:
    answer = await submit(
        browser,
        f"{PAGES}/sign-up",
        {"name": name, "email": email, "password": PASSWORD, "terms": "yes"},
    )
    assert answer.status_code == 200 and "Check your mail" in answer.text, answer.text


@pytest.mark.slow
async def test_a_deleted_accounts_name_is_given_to_no_new_sign_up(
    db: Database, browser: httpx.AsyncClient, hub: MockHub, smtp: SmtpServer
) -> None:
    account = await create_person(db, display_name="Ada Lovelace")
    email = account.email
    assert email is not None
    # The name a sign-up with this address gets, as if the account had signed up so.
    name = base_username(email)
    async with db.sessionmaker() as session:
        row = await session.get(Account, account.id)
        assert row is not None
        row.username = name
        await session.commit()
        account = row
    add_user(hub.db, hub, name=name)  # they signed in to the hub before
    async with db.sessionmaker() as session:
        session.add(UserProfile(hub_name=name, display_name="Ada Lovelace", email=email))
        await session.commit()
    await sign_in(browser, account)

    page = await browser.get(f"{SETTINGS_PAGES}/delete")
    # Spawner "auto": Docker or local processes, whichever the platform finds.
    assert "deletes your files with it: the Docker volumes" in page.text
    assert f"users/{name} in the platform&#39;s data directory" in page.text
    assert "is never given to anyone else" in page.text
    deleted = await submit(
        browser,
        f"{SETTINGS_PAGES}/delete",
        {"confirm_username": name, "password": PASSWORD},
    )
    assert deleted.status_code == 200 and "Your account was deleted" in deleted.text
    assert "will not be given to anyone again" in deleted.text
    assert orm.User.find(hub.db, name) is None
    async with db.sessionmaker() as session:
        retired = await session.get(RetiredUsername, name)
        assert retired is not None and retired.retired_at is not None
        # The profile under the name (name, address, plan) went with the account.
        assert await session.scalar(select(UserProfile).where(UserProfile.hub_name == name)) is None
    [mail] = smtp.inbox.to(email)
    assert "deletes your files with it" in mail.text and "not given to anyone again" in mail.text

    # The same person signs up again with the same address, and someone else whose address
    # starts the same way: neither gets the old name.
    await sign_up(browser, email, "Ada Lovelace")
    elsewhere = f"{name}@elsewhere.example"
    await sign_up(browser, elsewhere, "Another Ada")
    assert await username_of(db, email) == f"{name}-2"
    assert await username_of(db, elsewhere) == f"{name}-3"


async def test_a_name_and_its_suffixes_count_as_taken_once_retired(db: Database) -> None:
    base = f"r-{uuid.uuid4().hex[:10]}"
    async with db.sessionmaker() as session:
        assert await unique_username(session, base) == base
        await retire_username(session, base)
        await retire_username(session, base)  # retiring twice is harmless
        await session.commit()
    taken = await create_account(db)
    async with db.sessionmaker() as session:
        row = await session.get(Account, taken.id)
        assert row is not None
        row.username = f"{base}-2"
        await session.commit()
    async with db.sessionmaker() as session:
        assert await unique_username(session, base) == f"{base}-3"
        await retire_username(session, f"{base}-3")
        await session.commit()
        assert await unique_username(session, base) == f"{base}-4"


async def test_a_bulk_import_never_hands_out_a_retired_name(
    db: Database, account_settings: Settings, smtp: SmtpServer
) -> None:
    name = f"bulk-{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.edu"
    async with db.sessionmaker() as session:
        await retire_username(session, name)
        await session.commit()
    admin = await person_with_password(db, role="platform_admin")
    async with db.sessionmaker() as session:
        result = await bulk_import.run_import(
            session,
            account_settings,
            Mailer(account_settings),
            f"name,email\nGrace Hopper,{email}\n".encode(),
            actor=admin,
        )
    assert result.imported and not result.check.problems
    assert await username_of(db, email) == f"{name}-2"
    [invitation] = smtp.inbox.to(email)
    assert f"Your user name is {name}-2." in " ".join(invitation.text.split())


async def test_a_native_user_whose_account_was_deleted_is_not_carried_over_again(
    db: Database,
) -> None:
    gone, kept = (f"{who}{uuid.uuid4().hex[:8]}" for who in ("gone", "kept"))
    async with db.sessionmaker() as session:
        await retire_username(session, gone)
        await session.commit()
    users = [
        NativeUser(username=who, password_hash="$2b$04$x", email=None, authorized=True, admin=False)
        for who in (gone, kept)
    ]
    async with db.sessionmaker() as session:
        report = await import_native_users(session, users)
    assert report.created == [kept]
    assert report.skipped == [(gone, "the account with this name was deleted")]
    async with db.sessionmaker() as session:
        found = await session.scalars(select(Account.username).where(Account.username == gone))
        assert found.all() == []
