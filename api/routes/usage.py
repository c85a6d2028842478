"""A person's own usage: today's session minutes, every metered limit of their plan and the
notices they raised; and, for an organisation's admins, the organisation's meters."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy import select

from api.billing import billing_page_url, notices
from api.billing.meters import organisation_today as organisation_meters
from api.billing.meters import utc_day
from api.core.config import Settings
from api.deps import CurrentUser, QuotaService, SessionDep, SettingsDep
from api.errors import Forbidden, NotFound
from api.models import UsageNotice, UserProfile
from api.schemas.me import PlanOut
from api.schemas.usage import (
    MeterOut,
    NoticeOut,
    NoticesOut,
    OrganisationMetersOut,
    SessionOut,
    UsageOut,
)
from api.usage import budget_for, day_bounds, sessions_today

router = APIRouter(tags=["usage"])


def notice_out(notice: UsageNotice, settings: Settings) -> NoticeOut:
    return NoticeOut(
        id=f"{notice.day.isoformat()}:{notice.limit_name}:{notice.threshold}",
        limit_name=notice.limit_name,
        threshold=notice.threshold,
        day=notice.day,
        message=notice.message,
        created_at=notice.created_at,
        upgrade_url=billing_page_url(settings),
    )


def meters_out(usage: notices.Usage) -> list[MeterOut]:
    out = []
    for name, (label, hard) in notices.LIMITS.items():
        limit = usage.of(name)
        used = round(usage.used.get(name, 0.0), 2)
        out.append(
            MeterOut(
                name=name,
                label=label,
                used=used,
                limit=limit,
                percent=round(100 * used / limit, 1) if limit else None,
                billed_beyond=name in usage.plan.overage_meters,
                hard=hard,
            )
        )
    return out


async def _todays_notices(session: SessionDep, settings: Settings, name: str) -> list[NoticeOut]:
    return [notice_out(n, settings) for n in await notices.todays_notices(session, name)]


@router.get("/me/usage", response_model=UsageOut, summary="My usage and limits today")
async def my_usage(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> UsageOut:
    now = datetime.now(UTC)
    budget = await budget_for(session, user.name, now)
    rows = await sessions_today(session, user.name, now)
    usage = await notices.usage_today(session, user.name, now, plan=budget.plan)
    # Limits counted outside the meters (generations, minutes) raise their notices here too.
    if await notices.check(session, user.name, now, plan=budget.plan):
        await session.commit()
        await notices.mail_raised(session, settings)
    return UsageOut(
        plan=PlanOut.model_validate(budget.plan),
        day_started_at=day_bounds(now)[0],
        resets_at=budget.resets_at,
        minutes_used=budget.minutes_used,
        minutes_left=budget.minutes_left,
        warn_minutes=settings.quota_warn_minutes,
        sessions=[SessionOut.model_validate(row) for row in rows],
        meters=meters_out(usage),
        notices=await _todays_notices(session, settings, user.name),
        upgrade_url=billing_page_url(settings),
    )


@router.get("/me/notices", response_model=NoticesOut, summary="My usage notices today")
async def my_notices(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> NoticesOut:
    return NoticesOut(
        notices=await _todays_notices(session, settings, user.name),
        upgrade_url=billing_page_url(settings),
    )


@router.get(
    "/me/organisation/meters",
    response_model=OrganisationMetersOut,
    summary="My organisation's meters today (its admins)",
    responses={403: {"description": "Not an admin of the organisation."}},
)
async def my_organisation_meters(user: CurrentUser, session: SessionDep) -> OrganisationMetersOut:
    profile = (
        await session.execute(
            select(UserProfile.tenant_id, UserProfile.tenant_role).where(
                UserProfile.hub_name == user.name
            )
        )
    ).first()
    if profile is None or profile.tenant_id is None:
        raise NotFound("You are in no organisation.")
    if profile.tenant_role != "admin":
        raise Forbidden("Only the organisation's admins see its usage.")
    # Row-level security gives an admin their members' rows, and no one else's.
    return OrganisationMetersOut(
        tenant_id=profile.tenant_id,
        day=utc_day(),
        meters=await organisation_meters(session, profile.tenant_id),
    )


@router.get(
    "/internal/usage-notices/{name}",
    response_model=NoticesOut,
    summary="A person's usage notices today (the hub's pages, with the quota service's token)",
)
async def notices_for_hub(
    name: str, _: QuotaService, session: SessionDep, settings: SettingsDep
) -> NoticesOut:
    return NoticesOut(
        notices=await _todays_notices(session, settings, name),
        upgrade_url=billing_page_url(settings),
    )
