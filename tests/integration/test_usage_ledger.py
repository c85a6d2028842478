"""The usage ledger against the real database: sessions, minutes, verdicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from api.core.db import Database
from api.models import Event, Plan, ServerSession, UserProfile
from api.usage import (
    STALE_AFTER,
    RunningServer,
    budget_for,
    heartbeat,
    record_start,
    record_stop,
    refusal_message,
    used_seconds_today,
)

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def someone() -> str:
    return f"ledger-{uuid.uuid4().hex[:8]}"


async def test_a_start_reported_twice_is_one_session(database: Database) -> None:
    name = someone()
    async with database.sessionmaker() as session:
        for _ in range(2):
            await record_start(
                session, hub_name=name, server_name="", started_at=NOON, plan_code="free"
            )
        await session.commit()
        count = await session.scalar(
            select(func.count()).select_from(ServerSession).where(ServerSession.hub_name == name)
        )
        started = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.stream == f"user:{name}", Event.type == "server.started")
        )
    assert (count, started) == (1, 1)


async def test_minutes_count_open_sessions_to_now_and_closed_ones_to_their_end(
    database: Database,
) -> None:
    name = someone()
    async with database.sessionmaker() as session:
        await record_start(
            session, hub_name=name, server_name="", started_at=NOON, plan_code="free"
        )
        await record_start(
            session,
            hub_name=name,
            server_name="lab2",
            started_at=NOON + timedelta(minutes=5),
            plan_code="free",
        )
        await record_stop(
            session,
            hub_name=name,
            server_name="lab2",
            started_at=NOON + timedelta(minutes=5),
            ended_at=NOON + timedelta(minutes=15),
            reason="stopped",
        )
        await session.commit()
        now = NOON + timedelta(minutes=30)
        # 30 minutes of the open default server + 10 of the stopped named one.
        assert await used_seconds_today(session, name, now) == 40 * 60
        budget = await budget_for(session, name, now)
    assert budget.minutes_used == 40
    assert budget.minutes_left == 80  # the free plan's 120 minutes


async def test_a_session_across_midnight_counts_only_todays_part(database: Database) -> None:
    name = someone()
    before_midnight = datetime(2026, 11, 22, 23, 50, tzinfo=UTC)
    async with database.sessionmaker() as session:
        await record_start(
            session, hub_name=name, server_name="", started_at=before_midnight, plan_code="free"
        )
        await session.commit()
        after = datetime(2026, 11, 23, 0, 20, tzinfo=UTC)
        assert await used_seconds_today(session, name, after) == 20 * 60


async def test_refusal_says_what_was_used_when_it_resets_and_how_to_get_more(
    database: Database,
) -> None:
    name = someone()
    async with database.sessionmaker() as session:
        await record_start(
            session,
            hub_name=name,
            server_name="",
            started_at=NOON - timedelta(hours=3),
            plan_code="free",
        )
        await session.commit()
        budget = await budget_for(session, name, NOON)
        assert budget.exhausted
        message = await refusal_message(session, budget)
    assert "used 180 of your 120 minutes today on the Free plan" in message
    assert "resets at 00:00 UTC (in 12 h 0 min)" in message
    assert "The Student plan gives 240 minutes a day" in message


async def test_heartbeat_closes_vanished_sessions_where_last_seen(database: Database) -> None:
    gone, running = someone(), someone()
    async with database.sessionmaker() as session:
        await record_start(
            session, hub_name=gone, server_name="", started_at=NOON, plan_code="free"
        )
        await session.commit()
        later = NOON + STALE_AFTER + timedelta(minutes=1)
        verdicts = await heartbeat(
            session, [RunningServer(running, "", NOON + timedelta(minutes=1))], later, 10
        )
        row = await session.scalar(select(ServerSession).where(ServerSession.hub_name == gone))
        opened = await session.scalar(
            select(ServerSession).where(ServerSession.hub_name == running)
        )
    assert row is not None
    assert (row.ended_at, row.end_reason) == (NOON, "vanished")
    assert opened is not None
    assert opened.ended_at is None
    assert opened.last_seen_at == later
    assert [(v.user, v.action) for v in verdicts] == [(running, "ok")]


async def test_heartbeat_warns_once_then_stops_when_the_budget_is_spent(
    database: Database,
) -> None:
    name = someone()
    start = NOON - timedelta(minutes=115)
    async with database.sessionmaker() as session:
        server = RunningServer(name, "", start)
        first = await heartbeat(session, [server], NOON, warn_minutes=10)
        second = await heartbeat(session, [server], NOON + timedelta(seconds=30), 10)
        warnings = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.stream == f"user:{name}", Event.type == "quota.warning")
        )
        last = await heartbeat(session, [server], NOON + timedelta(minutes=6), 10)
    assert [v.action for v in first + second] == ["warn", "warn"]
    assert first[0].minutes_left == 5
    assert warnings == 1
    assert last[0].action == "stop"
    assert last[0].minutes_left == 0


async def test_a_plan_change_applies_to_the_next_check(database: Database) -> None:
    name = someone()
    async with database.sessionmaker() as session:
        await record_start(
            session,
            hub_name=name,
            server_name="",
            started_at=NOON - timedelta(minutes=150),
            plan_code="free",
        )
        await session.commit()
        assert (await budget_for(session, name, NOON)).exhausted
        await session.execute(
            update(UserProfile).where(UserProfile.hub_name == name).values(plan_code="student")
        )
        await session.commit()
        budget = await budget_for(session, name, NOON)
        plan = await session.get(Plan, "student")
    assert plan is not None
    assert not budget.exhausted
    assert budget.minutes_left == 90
