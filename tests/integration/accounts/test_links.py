"""Single-use, expiring mailed links in the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api.accounts import links
from api.accounts.errors import LinkProblem
from api.core.db import Database
from api.models.account import Account, AccountToken
from tests.support.accounts import create_account


async def issue(database: Database, account: Account, purpose: str = "magic_link") -> str:
    assert account.email is not None
    async with database.sessionmaker() as session:
        token = await links.issue_link(
            session, purpose=purpose, email=account.email, account_id=account.id
        )
        await session.commit()
    return token


async def reason(database: Database, purpose: str, token: str) -> str:
    async with database.sessionmaker() as session:
        with pytest.raises(LinkProblem) as raised:
            await links.use_link(session, purpose, token)
    return raised.value.reason


async def test_a_link_works_once_and_only_its_hash_is_stored(database: Database) -> None:
    account = await create_account(database)
    token = await issue(database, account)
    async with database.sessionmaker() as session:
        stored = await session.scalar(
            select(AccountToken).where(AccountToken.account_id == account.id)
        )
        assert stored is not None
        assert stored.token_hash == links.token_hash(token) and token not in stored.token_hash
        assert stored.expires_at - stored.created_at == timedelta(minutes=15)
        # Checking leaves it usable; using it uses it up.
        await links.check_link(session, "magic_link", token)
        await links.use_link(session, "magic_link", token)
        await session.commit()
    assert await reason(database, "magic_link", token) == "used"


async def test_expired_tampered_and_foreign_links_are_refused(database: Database) -> None:
    account = await create_account(database)
    token = await issue(database, account)
    assert await reason(
        database, "magic_link", token[:-1] + ("A" if token[-1] != "A" else "B")
    ) == ("unknown")
    assert await reason(database, "reset_password", token) == "unknown"
    assert await reason(database, "magic_link", "") == "unknown"
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountToken).where(AccountToken.token_hash == links.token_hash(token))
        )
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    assert await reason(database, "magic_link", token) == "expired"


async def test_a_link_to_an_address_the_account_left_is_refused(database: Database) -> None:
    account = await create_account(database)
    token = await issue(database, account, "reset_password")
    async with database.sessionmaker() as session:
        stored = await session.get(Account, account.id)
        assert stored is not None
        stored.email = f"new-{account.email}"
        await session.commit()
    assert await reason(database, "reset_password", token) == "unknown"


async def test_two_clicks_at_once_use_a_link_once(database: Database) -> None:
    account = await create_account(database)
    token = await issue(database, account)

    async def click() -> bool:
        async with database.sessionmaker() as session:
            try:
                await links.use_link(session, "magic_link", token)
            except LinkProblem:
                return False
            await session.commit()
            return True

    outcomes = await asyncio.gather(*(click() for _ in range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]


async def test_retired_links_stop_working(database: Database) -> None:
    account = await create_account(database)
    first, second = await issue(database, account), await issue(database, account)
    async with database.sessionmaker() as session:
        await links.retire_links(session, account.id, "magic_link")
        await session.commit()
    assert {await reason(database, "magic_link", t) for t in (first, second)} == {"used"}
