"""The live stream wakes on the event's NOTIFY, not on a poll: an appended event reaches a
follower within milliseconds of its commit."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from sqlalchemy import text

from api.core.db import Database
from api.generation import eventlog
from api.routes.project_stream import follow
from tests.integration.generation.test_model_writes import new_project

EVENTS = 20


async def append(database: Database, project_id: uuid.UUID, number: int) -> float:
    async with database.sessionmaker() as session:
        await eventlog.lock_project(session, project_id)
        await eventlog.append(session, project_id, "test.tick", {"n": number})
        await session.commit()
    return time.perf_counter()


async def test_an_appended_event_reaches_the_stream_within_milliseconds(gen_db: Database) -> None:
    project_id = await new_project(gen_db, "A helper module")
    received: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

    async def read() -> None:
        async for event in follow(gen_db, project_id, 1, until_final=False):
            received.put_nowait((event["payload"]["n"], time.perf_counter()))

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.5)  # the follower is listening and has read what was there
    latencies = []
    try:
        for number in range(EVENTS):
            committed = await append(gen_db, project_id, number)
            seen, arrived = await asyncio.wait_for(received.get(), 10)
            assert seen == number
            latencies.append(arrived - committed)
            await asyncio.sleep(0.137)  # not in step with any poll interval
    finally:
        reader.cancel()
    median = statistics.median(latencies)
    p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
    print(f"event -> stream: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert median < 0.05 and p95 < 0.15, latencies


async def listen_connections(database: Database) -> int:
    async with database.sessionmaker() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query = 'LISTEN project_events' AND pid <> pg_backend_pid()"
            )
        )
    return int(count or 0)


async def test_followers_share_one_listening_connection_that_survives_a_loss(
    gen_db: Database,
) -> None:
    projects = [await new_project(gen_db, f"Module {n}") for n in range(2)]
    seen: dict[int, list[tuple[uuid.UUID, int]]] = {n: [] for n in range(12)}

    async def read(number: int, project_id: uuid.UUID) -> None:
        async for event in follow(gen_db, project_id, 1, until_final=False):
            seen[number].append((project_id, event["payload"]["n"]))

    readers = [asyncio.create_task(read(n, projects[n % 2])) for n in seen]
    try:
        await asyncio.sleep(0.5)
        assert await listen_connections(gen_db) == 1  # twelve followers, one connection
        await append(gen_db, projects[0], 0)
        await append(gen_db, projects[1], 0)
        await asyncio.sleep(0.3)
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
        await asyncio.sleep(0.3)
        await append(gen_db, projects[0], 1)
        await append(gen_db, projects[1], 1)
        for _ in range(100):  # up to 10 s: the listener is revived within a few seconds
            if all(len(events) == 2 for events in seen.values()):
                break
            await asyncio.sleep(0.1)
        for number, events in seen.items():
            assert events == [(projects[number % 2], 0), (projects[number % 2], 1)]
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    # The last follower gone, so is the connection (after the revived one, too).
    for _ in range(50):
        if not await listen_connections(gen_db):
            break
        await asyncio.sleep(0.1)
    assert await listen_connections(gen_db) == 0
