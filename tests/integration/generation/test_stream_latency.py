"""The live stream wakes on the event's NOTIFY, not on a poll: an appended event reaches a
follower within milliseconds of its commit."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

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
