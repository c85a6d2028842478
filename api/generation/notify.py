"""Waking a project's followers when an event is appended: Postgres NOTIFY/LISTEN.

:func:`api.generation.eventlog.append` calls ``pg_notify`` in the appending transaction,
so the notification is delivered exactly when the event becomes visible (at commit) and
never for an event that was rolled back. Every project notifies one channel with
``<project id>:<seq>``; each api process keeps ONE listening connection for all of its
followers (a hundred people watching jobs must not hold a hundred database connections),
opened with the first follower and closed with the last. Followers also poll slowly, which
covers a lost connection until the listener is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import Database

log = logging.getLogger(__name__)

CHANNEL = "project_events"
RESTART_AFTER_SECONDS = 5.0

Wait = Callable[[float], Awaitable[bool]]


async def notify(session: AsyncSession, project_id: uuid.UUID, seq: int) -> None:
    """Queue the notification in the session's transaction; sent when it commits."""
    await session.execute(select(func.pg_notify(CHANNEL, f"{project_id.hex}:{seq}")))


def conninfo(database: Database) -> str:
    url = database.engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class SharedListener:
    """One LISTEN connection; wakes the followers of the project a notification names."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.followers: dict[str, set[asyncio.Event]] = {}
        self.connection: psycopg.AsyncConnection[Any] | None = None
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        self.retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def join(self, project_id: uuid.UUID) -> asyncio.Event:
        """Follow a project; listening has started when this returns (or raises)."""
        async with self.lock:
            if not self.listening:
                await self._start()
            event = asyncio.Event()
            self.followers.setdefault(project_id.hex, set()).add(event)
            return event

    async def leave(self, project_id: uuid.UUID, event: asyncio.Event) -> None:
        group = self.followers.get(project_id.hex, set())
        group.discard(event)  # at once, even if the closing below is cancelled
        if not group:
            self.followers.pop(project_id.hex, None)
        if not self.followers:
            with anyio.CancelScope(shield=True):  # a follower leaving by cancellation
                async with self.lock:
                    if not self.followers:
                        await self._stop()

    async def revive(self) -> None:
        """After a lost connection: listen again (at most every few seconds)."""
        if self.listening or time.monotonic() < self.retry_at:
            return
        async with self.lock:
            if self.listening or not self.followers:
                return
            try:
                await self._start()
                log.info("listening for project events again")
            except psycopg.Error as exc:
                self.retry_at = time.monotonic() + RESTART_AFTER_SECONDS
                log.warning("cannot LISTEN for project events yet (%s); polling", exc)

    async def _start(self) -> None:
        await self._stop()
        connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await connection.execute(f"LISTEN {CHANNEL}")
        self.connection = connection
        self.reader = asyncio.create_task(self._read(connection))

    async def _read(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for note in connection.notifies():
                for event in self.followers.get(note.payload.partition(":")[0], ()):
                    event.set()
        except psycopg.Error as exc:
            log.warning("lost the LISTEN connection for project events (%s)", exc)
        finally:  # whatever ended it: followers re-read now, then poll until revived
            for group in self.followers.values():
                for event in group:
                    event.set()

    async def _stop(self) -> None:
        reader, connection = self.reader, self.connection
        self.reader = self.connection = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if connection is not None:
            await connection.close()


_listeners: dict[tuple[str, asyncio.AbstractEventLoop], SharedListener] = {}


def shared_listener(database: Database) -> SharedListener:
    """This process's (and event loop's) listener for the database."""
    key = (conninfo(database), asyncio.get_running_loop())
    if key not in _listeners:
        _listeners[key] = SharedListener(key[0])
    return _listeners[key]


async def _sleep(seconds: float) -> bool:
    await asyncio.sleep(seconds)
    return False


@asynccontextmanager
async def listening(database: Database, project_id: uuid.UUID) -> AsyncIterator[Wait]:
    """A ``wait(seconds)`` that returns True on a notification for the project, False when
    ``seconds`` passed. Listening starts before this yields: nothing committed after it
    is missed."""
    listener = shared_listener(database)
    try:
        event = await listener.join(project_id)
    except psycopg.Error as exc:
        log.warning("cannot LISTEN for project %s (%s); polling instead", project_id, exc)
        yield _sleep
        return

    async def wait(seconds: float) -> bool:
        await listener.revive()
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        event.clear()  # after waking: a notification from now on sets it again
        return True

    try:
        yield wait
    finally:
        await listener.leave(project_id, event)
