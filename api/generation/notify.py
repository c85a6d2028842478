"""Waking a project's followers when an event is appended: Postgres NOTIFY/LISTEN.

:func:`api.generation.eventlog.append` calls ``pg_notify`` in the appending transaction,
so the notification is delivered exactly when the event becomes visible (at commit) and
never for an event that was rolled back. A follower LISTENs on its own connection and
waits for a notification, with a slow poll only as a fallback (a lost connection, a
database that refuses LISTEN).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import psycopg
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import Database

log = logging.getLogger(__name__)

Wait = Callable[[float], Awaitable[bool]]


def channel(project_id: uuid.UUID) -> str:
    return f"project_events_{project_id.hex}"


async def notify(session: AsyncSession, project_id: uuid.UUID, seq: int) -> None:
    """Queue the notification in the session's transaction; sent when it commits."""
    await session.execute(select(func.pg_notify(channel(project_id), str(seq))))


def conninfo(database: Database) -> str:
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def _sleep(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return False


@asynccontextmanager
async def listening(database: Database, project_id: uuid.UUID) -> AsyncIterator[Wait]:
    """A ``wait(seconds)`` that returns True on a notification for the project, False when
    ``seconds`` passed. Listening starts before this yields: nothing committed after it
    is missed."""
    try:
        connection = await psycopg.AsyncConnection.connect(conninfo(database), autocommit=True)
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(project_id))))
    except psycopg.Error as exc:
        log.warning("cannot LISTEN for project %s (%s); polling instead", project_id, exc)
        yield _sleep
        return

    async def wait(seconds: float) -> bool:
        try:
            async for _ in connection.notifies(timeout=seconds, stop_after=1):
                return True
        except psycopg.Error as exc:
            log.warning("lost the LISTEN connection for project %s (%s)", project_id, exc)
            await asyncio.sleep(seconds)
        return False

    try:
        yield wait
    finally:
        await connection.close()
