"""Assistant usage per user per UTC day: requests (the plan's limit) and model tokens
(also counted on the ``assistant_tokens`` meter, :mod:`api.billing.meters`).

Taking a request is one atomic upsert that only succeeds below the limit, so two requests
at once can never both take the last one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.assistant.errors import AssistantLimitReached
from api.auth import HubUser
from api.billing import meters, notices
from api.models import AssistantUsage, Plan
from api.profiles import get_or_create_profile


@dataclass(frozen=True)
class Today:
    day: date
    requests: int
    model_requests: int
    prompt_tokens: int
    completion_tokens: int
    requests_per_day: int | None


def utc_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


async def plan_of(session: AsyncSession, user: HubUser) -> Plan:
    return (await get_or_create_profile(session, user)).plan


async def today(session: AsyncSession, user: HubUser) -> Today:
    plan = await plan_of(session, user)
    day = utc_today()
    row = await session.get(AssistantUsage, (user.name, day))
    if row is None:
        return Today(day, 0, 0, 0, 0, plan.assistant_requests_per_day)
    return Today(
        day,
        row.requests,
        row.model_requests,
        row.prompt_tokens,
        row.completion_tokens,
        plan.assistant_requests_per_day,
    )


def limit_message(plan: Plan, limit: int, now: datetime) -> str:
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    hours, minutes = divmod(math.ceil((midnight - now).total_seconds() / 60), 60)
    return (
        f"Your plan ({plan.name}) allows {limit} assistant requests a day and you have used "
        f"them. They reset at 00:00 UTC (in {hours} h {minutes} min); a larger plan allows more."
    )


async def take_request(session: AsyncSession, user: HubUser) -> int:
    """Count one request for today, or refuse it (429) when the plan's limit is reached.

    Returns the number of requests used today, this one included. Commits.
    """
    plan = await plan_of(session, user)
    limit = plan.assistant_requests_per_day
    now = datetime.now(UTC)
    statement = insert(AssistantUsage).values(hub_name=user.name, day=now.date(), requests=1)
    upsert = statement.on_conflict_do_update(
        index_elements=[AssistantUsage.hub_name, AssistantUsage.day],
        set_={"requests": AssistantUsage.requests + 1, "updated_at": now},
        where=None if limit is None else AssistantUsage.requests < limit,
    ).returning(AssistantUsage.requests)
    if limit is not None and limit <= 0:
        await session.rollback()
        raise AssistantLimitReached(limit_message(plan, limit, now))
    used = await session.scalar(upsert)
    if used is not None and limit and notices.crosses(used - 1, used, limit):
        # 80% and 100% of the day's requests: a notice each (api.billing.notices).
        await notices.reached(
            session, user.name, "assistant_requests_per_day", used, limit, plan=plan
        )
    await session.commit()
    if used is None:
        raise AssistantLimitReached(limit_message(plan, limit or 0, now))
    return int(used)


async def record_tokens(
    session: AsyncSession,
    user: HubUser,
    *,
    prompt_tokens: int,
    completion_tokens: int,
    model_request: bool,
    count_request: bool = False,
) -> None:
    """Add a model call's tokens to today's row (and the request itself when asked). Commits."""
    day = utc_today()
    values = {
        "prompt_tokens": max(0, prompt_tokens),
        "completion_tokens": max(0, completion_tokens),
        "model_requests": 1 if model_request else 0,
        "requests": 1 if count_request else 0,
    }
    await session.execute(
        insert(AssistantUsage)
        .values(hub_name=user.name, day=day, **values)
        .on_conflict_do_update(
            index_elements=[AssistantUsage.hub_name, AssistantUsage.day],
            set_={name: getattr(AssistantUsage, name) + value for name, value in values.items()},
        )
    )
    # The tokens the model reported, or the engine's estimate (a token per 4 characters)
    # when it reported none: the assistant_tokens meter.
    tokens = values["prompt_tokens"] + values["completion_tokens"]
    if tokens:
        await meters.use(session, user.name, "assistant_tokens", tokens)
    await session.commit()


async def usage_rows(session: AsyncSession, user: HubUser) -> list[AssistantUsage]:
    rows = await session.scalars(
        select(AssistantUsage)
        .where(AssistantUsage.hub_name == user.name)
        .order_by(AssistantUsage.day.desc())
    )
    return list(rows)
