"""Daily usage meters: what each person used of each metered resource, per UTC day.

One row per person, day and meter (:class:`~api.models.UsageMeter`). Counters grow with
:func:`record` (one upsert, in the caller's transaction: the caller commits); gauges —
storage, and compute seconds derived from the session ledger — are set with
:func:`set_gauge`, the day's latest value replacing the previous one. Both answer with a
:class:`Reading`: the value before and after, and the person's plan's limit for the meter
(read in the same statement), so the caller learns whether a notice threshold was crossed
without asking again. :func:`use` does that: it records, raises the 80% and 100% notices a
crossing calls for (:mod:`api.billing.notices`) and queues overage the plan bills
(:mod:`api.billing.overage`).

Every statement runs in the caller's scope: a person writes only their own rows, the
quota service (platform scope) anyone's. An organisation's day is the sum of its rows
(``tenant_id`` is the person's organisation when the use happened).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    SQLColumnExpression,
    and_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.models import Plan, UsageMeter, UserProfile
from api.models.billing import METERS
from api.models.profile import DEFAULT_PLAN

# The plan's column that limits each meter per day (compute seconds and storage bytes are
# derived from the plan's minutes, CPUs and gigabytes: :func:`limit_expression`).
LIMIT_COLUMNS = {
    "api_calls": Plan.api_calls_per_day,
    "agent_steps": Plan.agent_steps_per_day,
    "patterns_used": Plan.patterns_used_per_day,
    "assistant_tokens": Plan.assistant_tokens_per_day,
}
GIGABYTE = 10**9


def utc_day(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def limit_expression(meter: str) -> SQLColumnExpression[Any]:
    """The plan's daily limit of ``meter`` as SQL over ``plans`` (NULL: no limit)."""
    if meter in LIMIT_COLUMNS:
        return LIMIT_COLUMNS[meter]
    if meter == "compute_seconds":
        # A day's minutes at the plan's CPU limit: NULL minutes stay NULL (unlimited).
        seconds = Plan.daily_minutes * 60 * Plan.cpu_limit
        return cast(func.round(seconds), Integer)
    if meter == "storage_bytes":
        return cast(Plan.storage_gb, BigInteger) * literal(GIGABYTE)
    raise ValueError(f"unknown meter {meter!r}; the meters are {', '.join(METERS)}")


def plan_limit(plan: Plan, meter: str) -> int | None:
    """The same limit, from a loaded plan."""
    if meter in LIMIT_COLUMNS:
        value: int | None = getattr(plan, LIMIT_COLUMNS[meter].key)
        return value
    if meter == "compute_seconds":
        if plan.daily_minutes is None:
            return None
        return round(plan.daily_minutes * 60 * float(plan.cpu_limit))
    if meter == "storage_bytes":
        return plan.storage_gb * GIGABYTE
    raise ValueError(f"unknown meter {meter!r}")


@dataclass(frozen=True)
class Reading:
    """One meter of one person on one day, as a record call left it."""

    hub_name: str
    meter: str
    day: date
    tenant_id: uuid.UUID | None
    before: int
    after: int
    limit: int | None
    # Whether the person's plan bills use beyond the limit (``overage_meters``).
    billed_beyond: bool

    @property
    def beyond(self) -> int:
        """How much of this call's amount lies beyond the limit."""
        if self.limit is None:
            return 0
        return max(0, self.after - max(self.before, self.limit))


def _plan_of(hub_name: str) -> ColumnElement[str]:
    profile_plan = (
        select(UserProfile.plan_code).where(UserProfile.hub_name == hub_name).scalar_subquery()
    )
    return func.coalesce(profile_plan, DEFAULT_PLAN)


def _tenant_of(hub_name: str) -> ColumnElement[uuid.UUID | None]:
    return select(UserProfile.tenant_id).where(UserProfile.hub_name == hub_name).scalar_subquery()


def _plan_columns(hub_name: str, meter: str) -> tuple[ColumnElement[object], ...]:
    plan = Plan.code == _plan_of(hub_name)
    limit = select(limit_expression(meter)).where(plan).scalar_subquery()
    billed = select(literal(meter) == func.any(Plan.overage_meters)).where(plan).scalar_subquery()
    return limit.label("limit"), billed.label("billed")


async def record(
    session: AsyncSession,
    hub_name: str,
    meter: str,
    amount: int = 1,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Reading:
    """Add ``amount`` to today's ``meter`` of ``hub_name``: one statement, uncommitted.

    ``tenant_id`` None takes the person's organisation from their profile (in the same
    statement)."""
    if meter not in METERS:
        raise ValueError(f"unknown meter {meter!r}")
    day = utc_day(now)
    amount = max(0, int(amount))
    statement = insert(UsageMeter).values(
        hub_name=hub_name,
        day=day,
        meter=meter,
        tenant_id=tenant_id if tenant_id is not None else _tenant_of(hub_name),
        quantity=amount,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[UsageMeter.hub_name, UsageMeter.day, UsageMeter.meter],
        set_={
            "quantity": UsageMeter.quantity + statement.excluded.quantity,
            "updated_at": func.now(),
        },
    ).returning(UsageMeter.quantity, UsageMeter.tenant_id, *_plan_columns(hub_name, meter))
    row = (await session.execute(upsert)).one()
    after = int(row.quantity)
    return Reading(
        hub_name, meter, day, row.tenant_id, after - amount, after, row.limit, bool(row.billed)
    )


async def set_gauge(
    session: AsyncSession,
    hub_name: str,
    meter: str,
    value: int,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Reading:
    """Set today's ``meter`` of ``hub_name`` to ``value`` (the day's latest sample): one
    statement, uncommitted. ``before`` is the previous sample of the day (0 if none)."""
    if meter not in METERS:
        raise ValueError(f"unknown meter {meter!r}")
    day = utc_day(now)
    value = max(0, int(value))
    key = and_(UsageMeter.hub_name == hub_name, UsageMeter.day == day, UsageMeter.meter == meter)
    # The statement's snapshot: the value before this statement changed it.
    previous = select(UsageMeter.quantity).where(key).scalar_subquery()
    statement = insert(UsageMeter).values(
        hub_name=hub_name,
        day=day,
        meter=meter,
        tenant_id=tenant_id if tenant_id is not None else _tenant_of(hub_name),
        quantity=value,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[UsageMeter.hub_name, UsageMeter.day, UsageMeter.meter],
        set_={"quantity": statement.excluded.quantity, "updated_at": func.now()},
    ).returning(
        UsageMeter.quantity,
        UsageMeter.tenant_id,
        func.coalesce(previous, 0).label("previous"),
        *_plan_columns(hub_name, meter),
    )
    row = (await session.execute(upsert)).one()
    return Reading(
        hub_name,
        meter,
        day,
        row.tenant_id,
        int(row.previous),
        int(row.quantity),
        row.limit,
        bool(row.billed),
    )


async def today(
    session: AsyncSession, hub_name: str, now: datetime | None = None
) -> dict[str, int]:
    """Today's value of every meter of ``hub_name`` (0 for those not used)."""
    rows = await session.execute(
        select(UsageMeter.meter, UsageMeter.quantity).where(
            UsageMeter.hub_name == hub_name, UsageMeter.day == utc_day(now)
        )
    )
    values = dict.fromkeys(METERS, 0)
    values.update({meter: int(quantity) for meter, quantity in rows})
    return values


async def organisation_today(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime | None = None
) -> dict[str, int]:
    """Today's sums over an organisation's rows — those the caller's scope lets it read
    (an organisation's admins read their members' rows)."""
    rows = await session.execute(
        select(UsageMeter.meter, func.sum(UsageMeter.quantity))
        .where(UsageMeter.tenant_id == tenant_id, UsageMeter.day == utc_day(now))
        .group_by(UsageMeter.meter)
    )
    values = dict.fromkeys(METERS, 0)
    values.update({meter: int(total) for meter, total in rows})
    return values


async def use(
    session: AsyncSession,
    hub_name: str,
    meter: str,
    amount: int = 1,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
    gauge: bool = False,
) -> Reading:
    """Record a use and act on it: the notices a crossed threshold raises, and overage
    queued when the plan bills this meter beyond its limit. Uncommitted; after the commit,
    :func:`api.billing.notices.mail_raised` mails the notices raised."""
    from api.billing import notices, overage

    now = now or datetime.now(UTC)
    if gauge:
        reading = await set_gauge(session, hub_name, meter, amount, tenant_id=tenant_id, now=now)
    else:
        reading = await record(session, hub_name, meter, amount, tenant_id=tenant_id, now=now)
    if reading.limit is None:
        return reading
    if notices.crosses(reading.before, reading.after, reading.limit):
        await notices.reached(
            session,
            hub_name,
            meter,
            reading.after,
            reading.limit,
            tenant_id=reading.tenant_id,
            now=now,
        )
    if reading.billed_beyond and reading.beyond > 0:
        await overage.queue(session, reading)
    return reading


async def count_api_call(
    session: AsyncSession, settings: Settings, hub_name: str, tenant_id: uuid.UUID | None
) -> None:
    """Count one api call of a person, committed at once (the request's transaction has
    only read their profile so far), so the meter row's lock is held for one statement, not
    for the whole request; a notice it raises is mailed before the request goes on."""
    from api.billing import notices

    reading = await use(session, hub_name, "api_calls", tenant_id=tenant_id)
    await session.commit()
    if reading.limit is not None and notices.crosses(reading.before, reading.after, reading.limit):
        await notices.mail_raised(session, settings)
