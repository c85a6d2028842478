"""Browser sessions against the real database: the cookie proves a live session only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select, update

from api.accounts.sessions import (
    SESSION_COOKIE,
    current_account,
    end_session,
    sign_out_everywhere,
    start_session,
)
from api.core.config import Settings
from api.core.db import Database
from api.core.names import API_PREFIX
from api.deps import SessionDep
from api.models import Event
from api.models.account import Account, AccountSession
from tests.support.accounts import create_account


def session_app(settings: Settings, database: Database) -> FastAPI:
    """A small app under the api's prefix that signs in, reads and ends sessions."""
    app = FastAPI()
    app.state.settings = settings
    app.state.database = database

    @app.post(f"{API_PREFIX}test/sign-in/{{username}}")
    async def sign_in(
        username: str, request: Request, response: Response, session: SessionDep
    ) -> str:
        account = await session.scalar(select(Account).where(Account.username == username))
        assert account is not None
        await start_session(request, response, session, account, "password")
        return "ok"

    @app.get(f"{API_PREFIX}test/who")
    async def who(request: Request, session: SessionDep) -> str | None:
        account = await current_account(request, session)
        return account.username if account else None

    @app.post(f"{API_PREFIX}test/sign-out")
    async def sign_out(request: Request, response: Response, session: SessionDep) -> str:
        await end_session(request, response, session)
        return "ok"

    return app


@pytest.fixture
async def client(migrated: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=session_app(migrated, database))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http


async def who(client: httpx.AsyncClient) -> str | None:
    response = await client.get(f"{API_PREFIX}test/who")
    assert response.status_code == 200
    name: str | None = response.json()
    return name


async def test_a_started_session_names_the_account_and_logs_the_method(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database)
    assert await who(client) is None
    response = await client.post(f"{API_PREFIX}test/sign-in/{account.username}")
    cookie = response.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and f"Path={API_PREFIX}" in cookie
    assert await who(client) == account.username
    async with database.sessionmaker() as session:
        events = (
            await session.scalars(select(Event).where(Event.stream == f"account:{account.id}"))
        ).all()
    assert [(e.type, e.payload["method"]) for e in events] == [("account.signed_in", "password")]


async def test_a_tampered_cookie_is_no_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{account.username}")
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert await who(client) is None


async def test_signing_out_revokes_the_session_even_for_a_copied_cookie(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{account.username}")
    copied = client.cookies[SESSION_COOKIE]
    await client.post(f"{API_PREFIX}test/sign-out")
    assert await who(client) is None
    client.cookies.set(SESSION_COOKIE, copied)
    assert await who(client) is None


async def test_disabled_accounts_and_older_epochs_are_signed_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{account.username}")
    async with database.sessionmaker() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        stored.disabled_at = datetime.now(UTC)
        await session.commit()
    assert await who(client) is None

    other = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{other.username}")
    assert await who(client) == other.username
    async with database.sessionmaker() as session:
        stored = await session.get(Account, other.id)
        assert stored is not None
        await sign_out_everywhere(session, stored)
        await session.commit()
        sessions = (
            await session.scalars(
                select(AccountSession).where(AccountSession.account_id == other.id)
            )
        ).all()
    assert all(s.revoked_at is not None for s in sessions)
    assert await who(client) is None


async def test_signing_in_again_replaces_the_old_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await create_account(database)
    second = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{first.username}")
    before = client.cookies[SESSION_COOKIE]
    await client.post(f"{API_PREFIX}test/sign-in/{second.username}")
    assert await who(client) == second.username
    client.cookies.set(SESSION_COOKIE, before)
    assert await who(client) is None


async def test_reading_a_session_records_when_it_was_last_seen(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_account(database)
    await client.post(f"{API_PREFIX}test/sign-in/{account.username}")
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    async with database.sessionmaker() as session:
        await session.execute(
            update(AccountSession)
            .where(AccountSession.account_id == account.id)
            .values(last_seen_at=long_ago)
        )
        await session.commit()
    assert await who(client) == account.username
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountSession).where(AccountSession.account_id == account.id)
        )
    assert row is not None and row.last_seen_at > long_ago + timedelta(hours=2)
