"""Async database engine and sessions (SQLAlchemy 2 + psycopg 3)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.core.tenancy import SCOPE_KEY, Scope, ScopedSession, person_scope


class Database:
    """Owns the engine of one process; the api keeps no other state in memory."""

    def __init__(self, sqlalchemy_url: str, *, pool_size: int = 5) -> None:
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
        )
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=ScopedSession
        )

    def scoped(self, scope: Scope) -> AsyncSession:
        """A session whose every transaction is ``scope``'s (row-level security reads it).
        A session from ``sessionmaker()`` alone sees only the shared rows."""
        session = self.sessionmaker()
        session.info[SCOPE_KEY] = scope
        return session

    def in_scope(self, scope: Scope) -> Database:
        """The same engine, whose every session is ``scope``'s: for a worker's job, whose
        steps open sessions of their own. Dispose of the original, not of this view."""
        view = copy.copy(self)
        view.sessionmaker = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=ScopedSession,
            info={SCOPE_KEY: scope},
        )
        return view

    @asynccontextmanager
    async def for_person(self, user_name: str) -> AsyncIterator[AsyncSession]:
        """A session in the scope of a person and their organisation (for work that outlives
        the request's own session: streams, the assistant's model calls)."""
        async with self.sessionmaker() as session:
            await person_scope(session, user_name)
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
