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
    Date,
    Integer,
    SQLColumnExpression,
    String,
    Table,
    Uuid,
    bindparam,
    cast,
    func,
    literal,
    select,
    text,
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


_TABLE: Table = UsageMeter.__table__  # type: ignore[assignment]
_HUB = bindparam("hub_name", type_=String)
_DAY = bindparam("day", type_=Date)
_AMOUNT = bindparam("amount", type_=BigInteger)
_TENANT = bindparam("tenant_id", type_=Uuid)


def _upsert(meter: str, *, gauge: bool) -> Any:
    """The one statement of :func:`record` (``gauge``: of :func:`set_gauge`) for ``meter``,
    its values bound: the new quantity, the person's organisation, the value before (for
    a gauge; the statement's snapshot), and the plan's limit and whether it bills beyond."""
    profile = UserProfile.__table__.c
    columns = _TABLE.c
    plan = Plan.code == func.coalesce(
        select(profile.plan_code).where(profile.hub_name == _HUB).scalar_subquery(), DEFAULT_PLAN
    )
    limit = select(limit_expression(meter)).where(plan).scalar_subquery()
    billed = select(literal(meter) == func.any(Plan.overage_meters)).where(plan).scalar_subquery()
    tenant = func.coalesce(
        _TENANT, select(profile.tenant_id).where(profile.hub_name == _HUB).scalar_subquery()
    )
    statement = insert(_TABLE).values(
        hub_name=_HUB, day=_DAY, meter=literal(meter), tenant_id=tenant, quantity=_AMOUNT
    )
    added = statement.excluded.quantity if gauge else columns.quantity + statement.excluded.quantity
    previous = (
        select(columns.quantity)
        .where(columns.hub_name == _HUB, columns.day == _DAY, columns.meter == literal(meter))
        .scalar_subquery()
    )
    return statement.on_conflict_do_update(
        index_elements=[columns.hub_name, columns.day, columns.meter],
        set_={"quantity": added, "updated_at": func.now()},
    ).returning(
        columns.quantity,
        columns.tenant_id,
        func.coalesce(previous, 0).label("previous") if gauge else literal(0).label("previous"),
        limit.label("limit"),
        billed.label("billed"),
    )


# Built once per meter: compiling the statement costs more than running it.
_COUNTERS = {meter: _upsert(meter, gauge=False) for meter in METERS}
_GAUGES = {meter: _upsert(meter, gauge=True) for meter in METERS}


async def _apply(
    session: AsyncSession,
    hub_name: str,
    meter: str,
    amount: int,
    *,
    gauge: bool,
    tenant_id: uuid.UUID | None,
    now: datetime | None,
) -> Reading:
    statements = _GAUGES if gauge else _COUNTERS
    if meter not in statements:
        raise ValueError(f"unknown meter {meter!r}; the meters are {', '.join(METERS)}")
    day = utc_day(now)
    amount = max(0, int(amount))
    parameters = {"hub_name": hub_name, "day": day, "amount": amount, "tenant_id": tenant_id}
    row = (await session.execute(statements[meter], parameters)).one()
    after = int(row.quantity)
    before = int(row.previous) if gauge else after - amount
    return Reading(hub_name, meter, day, row.tenant_id, before, after, row.limit, bool(row.billed))


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
    return await _apply(session, hub_name, meter, amount, gauge=False, tenant_id=tenant_id, now=now)


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
    return await _apply(session, hub_name, meter, value, gauge=True, tenant_id=tenant_id, now=now)


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

    # Without waiting for the disk: a crash may lose the last moment's counts (the meter
    # and any overage it queued, together), never count one twice; a durable commit on
    # every read-only request would cost it a WAL flush.
    await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    reading = await use(session, hub_name, "api_calls", tenant_id=tenant_id)
    await session.commit()
    if reading.limit is not None and notices.crosses(reading.before, reading.after, reading.limit):
        await notices.mail_raised(session, settings)
