"""A user's own usage: today's session minutes against their plan."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas.me import PlanOut
from api.schemas.usage import SessionOut, UsageOut
from api.usage import budget_for, day_bounds, sessions_today

router = APIRouter(tags=["usage"])


@router.get("/me/usage", response_model=UsageOut, summary="My session minutes today")
async def my_usage(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> UsageOut:
    now = datetime.now(UTC)
    budget = await budget_for(session, user.name, now)
    rows = await sessions_today(session, user.name, now)
    return UsageOut(
        plan=PlanOut.model_validate(budget.plan),
        day_started_at=day_bounds(now)[0],
        resets_at=budget.resets_at,
        minutes_used=budget.minutes_used,
        minutes_left=budget.minutes_left,
        warn_minutes=settings.quota_warn_minutes,
        sessions=[SessionOut.model_validate(row) for row in rows],
    )
