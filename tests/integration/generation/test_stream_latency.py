"""The live stream wakes on the event's NOTIFY, not on a poll.

With the fallback poll pushed out of reach, every event a follower receives was delivered by
its NOTIFY; the latency is printed (bench/ measures it against the poll), never asserted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import pytest
from sqlalchemy import text

from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.generation import eventlog
from api.routes import project_stream
from api.routes.project_stream import follow
from tests.support.generation import new_project
from tests.support.waiting import PATIENCE_SECONDS, eventually

EVENTS = 20
NO_POLL_SECONDS = 3600.0


@pytest.fixture
def notify_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Followers wake only on NOTIFY: the fallback poll would come after the test is over."""
    monkeypatch.setattr(project_stream, "FALLBACK_POLL_SECONDS", NO_POLL_SECONDS)


async def append(database: Database, project_id: uuid.UUID, number: int) -> float:
    async with database.sessionmaker() as session:
        await eventlog.lock_project(session, project_id)
        await eventlog.append(session, project_id, "test.tick", {"n": number})
        await session.commit()
    return time.perf_counter()


@pytest.mark.usefixtures("notify_only")
async def test_an_appended_event_wakes_the_stream_through_its_notify(gen_db: Database) -> None:
    project_id = await new_project(gen_db, "A helper module")
    received: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

    async def read() -> None:
        async for event in follow(gen_db, PLATFORM, project_id, 1, until_final=False):
            received.put_nowait((event["payload"]["n"], time.perf_counter()))

    reader = asyncio.create_task(read())
    latencies = []
    try:
        await eventually(lambda: listening(gen_db, 1), what="the follower listens")
        for number in range(EVENTS):
            committed = await append(gen_db, project_id, number)
            seen, arrived = await asyncio.wait_for(received.get(), PATIENCE_SECONDS)
            assert seen == number
            latencies.append(arrived - committed)
    finally:
        reader.cancel()
    median = statistics.median(latencies)
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    print(f"event -> stream: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


async def listen_connections(database: Database) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query = 'LISTEN project_events' AND pid <> pg_backend_pid()"
            )
        )
    return int(count or 0)


async def listening(database: Database, expected: int) -> bool:
    return await listen_connections(database) == expected


async def test_followers_share_one_listening_connection_that_survives_a_loss(
    gen_db: Database,
) -> None:
    projects = [await new_project(gen_db, f"Module {n}") for n in range(2)]
    seen: dict[int, list[tuple[uuid.UUID, int]]] = {n: [] for n in range(12)}

    async def read(number: int, project_id: uuid.UUID) -> None:
        async for event in follow(gen_db, PLATFORM, project_id, 1, until_final=False):
            seen[number].append((project_id, event["payload"]["n"]))

    readers = [asyncio.create_task(read(n, projects[n % 2])) for n in seen]

    def each_has(count: int) -> bool:
        return all(len(events) >= count for events in seen.values())

    try:
        # Twelve followers, one connection.
        await eventually(lambda: listening(gen_db, 1), what="one LISTEN connection")
        await append(gen_db, projects[0], 0)
        await append(gen_db, projects[1], 0)
        await eventually(lambda: each_has(1), what="every follower got its event")
        for number, events in seen.items():
            assert events == [(projects[number % 2], 0)]  # their project's event, only

        # The database drops the listening connection: followers still get what follows.
        async with gen_db.sessionmaker() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = 'LISTEN project_events'"
                )
            )
        await append(gen_db, projects[0], 1)
        await append(gen_db, projects[1], 1)
        # Followers re-read at the loss and poll until the listener is revived: nothing is
        # missed, whether the events came before or after the revival.
        await eventually(lambda: each_has(2), what="every follower got the later event")
        for number, events in seen.items():
            assert events == [(projects[number % 2], 0), (projects[number % 2], 1)]
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    # The last follower gone, so is the connection (after the revived one, too).
    await eventually(lambda: listening(gen_db, 0), what="no LISTEN connection left")
