"""Async database engine and sessions (SQLAlchemy 2 + psycopg 3)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)


class Database:
    """Owns the engine of one process; the api keeps no other state in memory."""

    def __init__(self, sqlalchemy_url: str, *, pool_size: int = 5) -> None:
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
