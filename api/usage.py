"""The usage ledger: server sessions, today's minutes per user, and what the plan allows.

Days run from 00:00 to 24:00 UTC. A session that spans midnight counts on both days, each
its part. An open session (the server still runs) counts up to now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.billing import meters, notices
from api.events import append_event
from api.models import Plan, ServerSession
from api.profiles import get_or_create_profile

# A session the hub no longer reports is closed once it has been silent this long.
STALE_AFTER = timedelta(minutes=3)


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Budget:
    plan: Plan
    used_seconds: float
    now: datetime
    hub_name: str = ""

    @property
    def minutes_used(self) -> float:
        return round(self.used_seconds / 60, 2)

    @property
    def minutes_left(self) -> float | None:
        if self.plan.daily_minutes is None:
            return None
        return round(max(0.0, self.plan.daily_minutes - self.used_seconds / 60), 2)

    @property
    def exhausted(self) -> bool:
        return self.minutes_left is not None and self.minutes_left <= 0

    @property
    def resets_at(self) -> datetime:
        return day_bounds(self.now)[1]


async def used_seconds_today(session: AsyncSession, hub_name: str, now: datetime) -> float:
    start, end = day_bounds(now)
    until = func.least(func.coalesce(ServerSession.ended_at, now), end)
    since = func.greatest(ServerSession.started_at, start)
    total = await session.scalar(
        select(func.coalesce(func.sum(func.extract("epoch", until - since)), 0)).where(
            ServerSession.hub_name == hub_name,
            ServerSession.started_at < end,
            or_(ServerSession.ended_at.is_(None), ServerSession.ended_at > start),
        )
    )
    return max(0.0, float(total or 0))


async def budget_for(session: AsyncSession, hub_name: str, now: datetime) -> Budget:
    profile = await get_or_create_profile(session, HubUser(name=hub_name, admin=False))
    return Budget(profile.plan, await used_seconds_today(session, hub_name, now), now, hub_name)


async def refusal_message(session: AsyncSession, budget: Budget) -> str:
    plan = budget.plan
    wait = budget.resets_at - budget.now
    hours, minutes = divmod(math.ceil(wait.total_seconds() / 60), 60)
    message = (
        f"You have used {math.floor(budget.minutes_used)} of your {plan.daily_minutes} "
        f"minutes today on the {plan.name} plan. Your time resets at 00:00 UTC "
        f"(in {hours} h {minutes} min)."
    )
    # The smallest plan that gives more time: the one to suggest.
    bigger = await session.scalar(
        select(Plan)
        .where(
            Plan.code != plan.code,
            Plan.rank >= plan.rank,
            or_(Plan.daily_minutes.is_(None), Plan.daily_minutes > (plan.daily_minutes or 0)),
        )
        .order_by(Plan.rank, Plan.daily_minutes)
    )
    if bigger is not None:
        more = "unlimited" if bigger.daily_minutes is None else f"{bigger.daily_minutes}"
        message += f" The {bigger.name} plan gives {more} minutes a day."
    return message


async def record_start(
    session: AsyncSession,
    *,
    hub_name: str,
    server_name: str,
    started_at: datetime,
    plan_code: str,
) -> None:
    """Open a session; the same start reported again changes nothing."""
    # A previous run of this server that was never closed (hub crash) ends where it was
    # last seen: it is not counted twice and not counted forever.
    await session.execute(
        update(ServerSession)
        .where(
            ServerSession.hub_name == hub_name,
            ServerSession.server_name == server_name,
            ServerSession.ended_at.is_(None),
            ServerSession.started_at != started_at,
        )
        .values(ended_at=ServerSession.last_seen_at, end_reason="superseded")
    )
    inserted = await session.scalar(
        insert(ServerSession)
        .values(
            hub_name=hub_name,
            server_name=server_name,
            started_at=started_at,
            last_seen_at=started_at,
            plan_code=plan_code,
        )
        .on_conflict_do_nothing(constraint="uq_server_sessions_run")
        .returning(ServerSession.id)
    )
    if inserted is not None:
        append_event(
            session,
            stream=f"user:{hub_name}",
            type="server.started",
            actor=hub_name,
            payload={"server": server_name, "started_at": started_at.isoformat()},
        )


async def record_stop(
    session: AsyncSession,
    *,
    hub_name: str,
    server_name: str,
    started_at: datetime,
    ended_at: datetime,
    reason: str,
) -> None:
    closed = await session.scalar(
        update(ServerSession)
        .where(
            ServerSession.hub_name == hub_name,
            ServerSession.server_name == server_name,
            ServerSession.started_at == started_at,
            ServerSession.ended_at.is_(None),
        )
        .values(ended_at=ended_at, last_seen_at=ended_at, end_reason=reason)
        .returning(ServerSession.id)
    )
    if closed is not None:
        append_event(
            session,
            stream=f"user:{hub_name}",
            type="server.stopped",
            actor=hub_name,
            payload={"server": server_name, "reason": reason},
        )


@dataclass(frozen=True)
class RunningServer:
    user: str
    server_name: str
    started_at: datetime


@dataclass(frozen=True)
class Verdict:
    user: str
    server_name: str
    minutes_used: float
    minutes_left: float | None
    action: str  # "ok", "warn" or "stop"


async def heartbeat(
    session: AsyncSession,
    servers: list[RunningServer],
    now: datetime,
    warn_minutes: int,
    storage: dict[str, int] | None = None,
) -> list[Verdict]:
    """Record that these servers run now; close vanished sessions; judge each server.

    Then the meters the ledger feeds: each running person's compute seconds today (their
    session seconds at their plan's CPU limit), the storage samples the hub took
    (``storage``: bytes per person), and the notices they and the session minutes call for.
    """
    for server in servers:
        budget = await budget_for(session, server.user, now)
        await record_start(
            session,
            hub_name=server.user,
            server_name=server.server_name,
            started_at=server.started_at,
            plan_code=budget.plan.code,
        )
        await session.execute(
            update(ServerSession)
            .where(
                ServerSession.hub_name == server.user,
                ServerSession.server_name == server.server_name,
                ServerSession.started_at == server.started_at,
            )
            .values(last_seen_at=now)
        )
    running = {(s.user, s.server_name, s.started_at) for s in servers}
    stale = (
        await session.scalars(
            select(ServerSession).where(
                ServerSession.ended_at.is_(None), ServerSession.last_seen_at < now - STALE_AFTER
            )
        )
    ).all()
    for row in stale:
        if (row.hub_name, row.server_name, row.started_at) not in running:
            await record_stop(
                session,
                hub_name=row.hub_name,
                server_name=row.server_name,
                started_at=row.started_at,
                ended_at=row.last_seen_at,
                reason="vanished",
            )
    await session.flush()

    verdicts = []
    budgets: dict[str, Budget] = {}
    warned_today: set[str] = set()
    for server in servers:
        budget = await budget_for(session, server.user, now)
        action = "ok"
        if budget.exhausted:
            action = "stop"
        elif budget.minutes_left is not None and budget.minutes_left <= warn_minutes:
            action = "warn"
            if server.user not in warned_today and not await _warned_today(
                session, server.user, now
            ):
                append_event(
                    session,
                    stream=f"user:{server.user}",
                    type="quota.warning",
                    actor="quota",
                    payload={"minutes_left": budget.minutes_left},
                )
            warned_today.add(server.user)
        verdicts.append(
            Verdict(
                server.user, server.server_name, budget.minutes_used, budget.minutes_left, action
            )
        )
        budgets[server.user] = budget
    for budget in budgets.values():
        await meter_compute(session, budget)
    for user, size in (storage or {}).items():
        await meters.use(session, user, "storage_bytes", size, now=now, gauge=True)
    await session.commit()
    return verdicts


def compute_seconds(budget: Budget) -> int:
    """Compute seconds: session seconds at the plan's CPU limit (2 CPUs for a minute: 120)."""
    return round(budget.used_seconds * float(budget.plan.cpu_limit))


async def meter_compute(session: AsyncSession, budget: Budget) -> None:
    """Today's compute seconds of a running person as a gauge (derived from the ledger, so a
    repeated heartbeat changes nothing), and the session-minute notices (uncommitted)."""
    hub_name = budget.hub_name
    reading = await meters.use(
        session, hub_name, "compute_seconds", compute_seconds(budget), now=budget.now, gauge=True
    )
    if budget.plan.daily_minutes is not None:
        await notices.reached(
            session,
            hub_name,
            "daily_minutes",
            budget.used_seconds / 60,
            budget.plan.daily_minutes,
            tenant_id=reading.tenant_id,
            now=budget.now,
            plan=budget.plan,
        )


async def _warned_today(session: AsyncSession, hub_name: str, now: datetime) -> bool:
    from api.models import Event

    start, _ = day_bounds(now)
    found = await session.scalar(
        select(Event.id)
        .where(
            and_(
                Event.stream == f"user:{hub_name}",
                Event.type == "quota.warning",
                Event.occurred_at >= start,
            )
        )
        .limit(1)
    )
    return found is not None


async def sessions_today(
    session: AsyncSession, hub_name: str, now: datetime
) -> list[ServerSession]:
    start, end = day_bounds(now)
    rows = await session.scalars(
        select(ServerSession)
        .where(
            ServerSession.hub_name == hub_name,
            ServerSession.started_at < end,
            or_(ServerSession.ended_at.is_(None), ServerSession.ended_at > start),
        )
        .order_by(ServerSession.started_at)
    )
    return list(rows.all())
