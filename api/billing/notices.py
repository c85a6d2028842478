"""Usage notices: a person reached 80% or 100% of a daily limit of their plan.

A notice is a :class:`~api.models.UsageNotice` row, raised once per limit, threshold and
day (its primary key; ``INSERT ... ON CONFLICT DO NOTHING``), with an event
``usage.notice`` on the person's stream, in the caller's transaction. JupyterLab and the
hub's pages show today's notices (``GET /me/notices``); each is mailed once to the
person's verified address, after its transaction committed:

- :func:`mail_raised` mails the notices a session's committed transactions raised (the
  api's requests call it after their commit);
- :func:`mail_pending` mails those still unmailed today (raised where no settings were at
  hand, such as a generation job's steps); the hub's heartbeat runs it every minute.

Both claim a notice (``mailed_at``, committed) before sending it, so two rounds never mail
one notice twice; a send that fails gives the claim back for the next round. When one
call crosses both thresholds, the 80% notice is raised already counted as mailed: one
mail says the limit is reached.

The limits: the metered ones (:data:`api.models.billing.METERS`, soft: they notify and may
bill overage) and the plan's hard daily limits (session minutes, generations, assistant
requests: refused as before).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import SQLColumnExpression, event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.accounts.mail import Mailer, compose
from api.billing import billing_page_url
from api.billing import meters as usage_meters
from api.core.config import Settings
from api.core.tenancy import ScopedSession
from api.events import append_event
from api.models import Account, AssistantUsage, Plan, Project, UsageNotice, UserProfile
from api.models.profile import DEFAULT_PLAN

log = logging.getLogger(__name__)

THRESHOLDS = (80, 100)

# limit name: (what is counted, plural; whether use beyond it is refused)
LIMITS: dict[str, tuple[str, bool]] = {
    "api_calls": ("API calls", False),
    "compute_seconds": ("compute seconds", False),
    "storage_bytes": ("storage", False),
    "patterns_used": ("pattern uses", False),
    "agent_steps": ("generation agent steps", False),
    "assistant_tokens": ("assistant tokens", False),
    "daily_minutes": ("session minutes", True),
    "generations_per_day": ("generations", True),
    "assistant_requests_per_day": ("assistant requests", True),
}
HARD_LIMITS = {
    "daily_minutes": Plan.daily_minutes,
    "generations_per_day": Plan.generations_per_day,
    "assistant_requests_per_day": Plan.assistant_requests_per_day,
}

_RAISED = "usage_notices.raised"
_COMMITTED = "usage_notices.committed"

NoticeKey = tuple[str, date, str, int]


@event.listens_for(ScopedSession, "after_commit")
def _committed(session: Session) -> None:
    raised = session.info.pop(_RAISED, None)
    if raised:
        session.info.setdefault(_COMMITTED, []).extend(raised)


@event.listens_for(ScopedSession, "after_rollback")
def _rolled_back(session: Session) -> None:
    # Notices of a rolled-back transaction were never raised: nothing to mail.
    session.info.pop(_RAISED, None)


def crosses(before: float, after: float, limit: int) -> bool:
    """Whether going from ``before`` to ``after`` reaches a threshold of ``limit``."""
    return any(before * 100 < t * limit <= after * 100 for t in THRESHOLDS)


def limit_value(plan: Plan, limit_name: str) -> int | None:
    if limit_name in HARD_LIMITS:
        value: int | None = getattr(plan, HARD_LIMITS[limit_name].key)
        return value
    return usage_meters.plan_limit(plan, limit_name)


def _limit_sql(limit_name: str) -> SQLColumnExpression[Any]:
    if limit_name in HARD_LIMITS:
        return HARD_LIMITS[limit_name]
    return usage_meters.limit_expression(limit_name)


def amount_text(limit_name: str, value: float) -> str:
    if limit_name == "storage_bytes":
        gigabytes = value / usage_meters.GIGABYTE
        return f"{gigabytes:,.1f} GB" if gigabytes < 10 else f"{gigabytes:,.0f} GB"
    return f"{math.floor(value):,}"


async def _bigger_plan(session: AsyncSession, plan: Plan, limit_name: str) -> Plan | None:
    """The smallest plan that gives more of ``limit_name``: the one to suggest."""
    limit = _limit_sql(limit_name)
    current = limit_value(plan, limit_name) or 0
    bigger: Plan | None = await session.scalar(
        select(Plan)
        .where(
            Plan.code != plan.code,
            Plan.rank >= plan.rank,
            or_(limit.is_(None), limit > current),
        )
        .order_by(Plan.rank, limit)
        .limit(1)
    )
    return bigger


async def message_for(
    session: AsyncSession, plan: Plan, limit_name: str, threshold: int, used: float, limit: int
) -> str:
    """What was used, of what limit, on which plan, and which plan gives more."""
    what, hard = LIMITS[limit_name]
    used_text, limit_text = amount_text(limit_name, used), amount_text(limit_name, limit)
    if limit_name == "storage_bytes":
        message = (
            f"Your files take {used_text} of the {limit_text} of storage the "
            f"{plan.name} plan gives ({threshold}%)."
        )
    elif threshold >= 100:
        message = (
            f"You have used all {limit_text} {what} of your day on the {plan.name} plan "
            f"({used_text} so far)."
        )
    else:
        message = (
            f"You have used {used_text} of your {limit_text} {what} today on the "
            f"{plan.name} plan ({threshold}%)."
        )
    if limit_name != "storage_bytes":
        if threshold >= 100 and hard:
            message += " More are refused until 00:00 UTC."
        elif threshold >= 100 and limit_name in plan.overage_meters:
            message += " Use beyond it is billed as overage."
        else:
            message += " The count resets at 00:00 UTC."
    bigger = await _bigger_plan(session, plan, limit_name)
    if bigger is not None:
        value = limit_value(bigger, limit_name)
        if value is None:
            message += f" The {bigger.name} plan has no limit on {what}."
        elif limit_name == "storage_bytes":
            message += f" The {bigger.name} plan gives {amount_text(limit_name, value)}."
        else:
            message += f" The {bigger.name} plan gives {value:,} a day."
    return message


async def _plan_of(session: AsyncSession, hub_name: str) -> Plan:
    code = select(UserProfile.plan_code).where(UserProfile.hub_name == hub_name).scalar_subquery()
    plan = await session.scalar(select(Plan).where(Plan.code == func.coalesce(code, DEFAULT_PLAN)))
    if plan is None:  # pragma: no cover - the default plan is seeded by the migrations
        raise RuntimeError(f"no plan for {hub_name}")
    return plan


async def reached(
    session: AsyncSession,
    hub_name: str,
    limit_name: str,
    used: float,
    limit: int,
    *,
    tenant_id: uuid.UUID | None = None,
    now: datetime | None = None,
    plan: Plan | None = None,
) -> list[UsageNotice]:
    """Raise the notices ``used`` of ``limit`` calls for that are not raised yet today.
    Uncommitted; returns the notices raised by this call."""
    if limit_name not in LIMITS:
        raise ValueError(f"unknown limit {limit_name!r}")
    due = [t for t in THRESHOLDS if limit >= 0 and used * 100 >= t * limit]
    if not due:
        return []
    now = now or datetime.now(UTC)
    day = usage_meters.utc_day(now)
    existing = set(
        await session.scalars(
            select(UsageNotice.threshold).where(
                UsageNotice.hub_name == hub_name,
                UsageNotice.day == day,
                UsageNotice.limit_name == limit_name,
            )
        )
    )
    due = [t for t in due if t not in existing]
    if not due:
        return []
    plan = plan or await _plan_of(session, hub_name)
    raised = []
    for threshold in due:
        message = await message_for(session, plan, limit_name, threshold, used, limit)
        # A lower threshold crossed together with a higher one is not mailed on its own.
        superseded = threshold != due[-1]
        notice = await session.scalar(
            insert(UsageNotice)
            .values(
                hub_name=hub_name,
                day=day,
                limit_name=limit_name,
                threshold=threshold,
                tenant_id=tenant_id,
                message=message,
                mailed_at=now if superseded else None,
            )
            .on_conflict_do_nothing()
            .returning(UsageNotice)
        )
        if notice is None:
            continue  # raised at the same moment by another transaction
        append_event(
            session,
            stream=f"user:{hub_name}",
            type="usage.notice",
            actor="billing",
            payload={
                "limit": limit_name,
                "threshold": threshold,
                "used": used,
                "of": limit,
                "plan": plan.code,
                "message": message,
            },
            tenant_id=tenant_id,
        )
        if not superseded:
            key: NoticeKey = (hub_name, day, limit_name, threshold)
            session.sync_session.info.setdefault(_RAISED, []).append(key)
        raised.append(notice)
    return raised


@dataclass(frozen=True)
class Usage:
    """How much of each of a person's daily limits they used today."""

    plan: Plan
    used: dict[str, float]

    def of(self, limit_name: str) -> int | None:
        return limit_value(self.plan, limit_name)


async def usage_today(
    session: AsyncSession, hub_name: str, now: datetime, *, plan: Plan | None = None
) -> Usage:
    """Today's use of every limit: the meters, the session ledger's minutes, the
    generations started and the assistant requests taken."""
    from api.usage import day_bounds, used_seconds_today

    plan = plan or await _plan_of(session, hub_name)
    used: dict[str, float] = {
        name: float(value)
        for name, value in (await usage_meters.today(session, hub_name, now)).items()
    }
    used["daily_minutes"] = (await used_seconds_today(session, hub_name, now)) / 60
    start, end = day_bounds(now)
    generations = await session.scalar(
        select(func.count())
        .select_from(Project)
        .where(Project.owner == hub_name, Project.created_at >= start, Project.created_at < end)
    )
    used["generations_per_day"] = float(generations or 0)
    requests = await session.scalar(
        select(AssistantUsage.requests).where(
            AssistantUsage.hub_name == hub_name, AssistantUsage.day == start.date()
        )
    )
    used["assistant_requests_per_day"] = float(requests or 0)
    return Usage(plan, used)


async def check(
    session: AsyncSession,
    hub_name: str,
    now: datetime | None = None,
    *,
    plan: Plan | None = None,
    tenant_id: uuid.UUID | None = None,
) -> list[UsageNotice]:
    """Raise every notice today's use of every limit calls for (uncommitted)."""
    now = now or datetime.now(UTC)
    usage = await usage_today(session, hub_name, now, plan=plan)
    if tenant_id is None:
        tenant_id = await session.scalar(
            select(UserProfile.tenant_id).where(UserProfile.hub_name == hub_name)
        )
    raised = []
    for limit_name in LIMITS:
        limit = usage.of(limit_name)
        if limit is None:
            continue
        raised += await reached(
            session,
            hub_name,
            limit_name,
            usage.used.get(limit_name, 0.0),
            limit,
            tenant_id=tenant_id,
            now=now,
            plan=usage.plan,
        )
    return raised


async def todays_notices(
    session: AsyncSession, hub_name: str, now: datetime | None = None
) -> list[UsageNotice]:
    """Today's notices of ``hub_name``, oldest first (the caller's scope decides)."""
    rows = await session.scalars(
        select(UsageNotice)
        .where(UsageNotice.hub_name == hub_name, UsageNotice.day == usage_meters.utc_day(now))
        .order_by(UsageNotice.created_at, UsageNotice.limit_name, UsageNotice.threshold)
    )
    return list(rows)


def headline(notice: UsageNotice, product_name: str) -> str:
    what, _ = LIMITS.get(notice.limit_name, (notice.limit_name, False))
    if notice.threshold >= 100:
        return f"You reached your daily limit of {what} on {product_name}"
    return f"You used {notice.threshold}% of your daily {what} on {product_name}"


async def _claim(session: AsyncSession, key: NoticeKey, now: datetime) -> UsageNotice | None:
    hub_name, day, limit_name, threshold = key
    notice: UsageNotice | None = await session.scalar(
        update(UsageNotice)
        .where(
            UsageNotice.hub_name == hub_name,
            UsageNotice.day == day,
            UsageNotice.limit_name == limit_name,
            UsageNotice.threshold == threshold,
            UsageNotice.mailed_at.is_(None),
        )
        .values(mailed_at=now)
        .returning(UsageNotice)
        .execution_options(synchronize_session=False)
    )
    return notice


async def _mail(session: AsyncSession, settings: Settings, keys: list[NoticeKey]) -> int:
    """Claim, commit, then send each notice of ``keys`` to its person's verified address."""
    if not keys:
        return 0
    now = datetime.now(UTC)
    names = sorted({key[0] for key in keys})
    rows = await session.execute(
        select(Account.username, Account.email).where(
            Account.username.in_(names), Account.email_verified_at.is_not(None)
        )
    )
    addresses = {name: email for name, email in rows if email}
    claimed = []
    for key in keys:
        if key[0] in addresses:
            notice = await _claim(session, key, now)
            if notice is not None:
                claimed.append(notice)
    await session.commit()
    mailer = Mailer(settings)
    sent = 0
    for notice in claimed:
        try:
            await mailer.send(
                compose(
                    settings,
                    to=addresses[notice.hub_name],
                    template="usage_notice",
                    headline=headline(notice, settings.product_name),
                    message=notice.message,
                    url=billing_page_url(settings),
                )
            )
            sent += 1
        except Exception:  # a mail server away must not undo the notice: the next round
            log.exception("usage notice mail to %s failed", notice.hub_name)
            await session.execute(
                update(UsageNotice)
                .where(
                    UsageNotice.hub_name == notice.hub_name,
                    UsageNotice.day == notice.day,
                    UsageNotice.limit_name == notice.limit_name,
                    UsageNotice.threshold == notice.threshold,
                )
                .values(mailed_at=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
    return sent


async def mail_raised(session: AsyncSession, settings: Settings) -> int:
    """Mail the notices this session's committed transactions raised; how many were sent."""
    keys: list[NoticeKey] = session.sync_session.info.pop(_COMMITTED, [])
    return await _mail(session, settings, keys)


async def mail_pending(
    session: AsyncSession, settings: Settings, now: datetime | None = None, *, limit: int = 200
) -> int:
    """Mail today's unmailed notices of people with a verified address (those the
    caller's scope sees); how many were sent."""
    day = usage_meters.utc_day(now)
    rows = await session.execute(
        select(UsageNotice.hub_name, UsageNotice.day, UsageNotice.limit_name, UsageNotice.threshold)
        .join(Account, Account.username == UsageNotice.hub_name)
        .where(
            UsageNotice.day == day,
            UsageNotice.mailed_at.is_(None),
            UsageNotice.limit_name.in_(list(LIMITS)),
            Account.email_verified_at.is_not(None),
        )
        .order_by(UsageNotice.created_at)
        .limit(limit)
    )
    keys: list[NoticeKey] = [(row[0], row[1], row[2], row[3]) for row in rows]
    return await _mail(session, settings, keys)
