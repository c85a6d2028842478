"""Endpoints for the hub's quota service only: spawn policy, the usage ledger and the
meters it feeds (compute seconds, storage samples), and the usage notices' mails."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from api.billing import billing_page_url, notices
from api.deps import QuotaService, SessionDep, SettingsDep
from api.identity.spawn_gate import unverified_refusal
from api.organisations.member_defaults import images_for
from api.schemas.usage import (
    HeartbeatIn,
    HeartbeatOut,
    LimitsOut,
    SessionEventIn,
    SpawnPolicyIn,
    SpawnPolicyOut,
    VerdictOut,
)
from api.usage import (
    RunningServer,
    budget_for,
    heartbeat,
    record_start,
    record_stop,
    refusal_message,
)

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/spawn-policy", response_model=SpawnPolicyOut)
async def spawn_policy(
    body: SpawnPolicyIn, _: QuotaService, session: SessionDep, settings: SettingsDep
) -> SpawnPolicyOut:
    budget = await budget_for(session, body.user, datetime.now(UTC))
    plan = budget.plan
    unverified = await unverified_refusal(session, settings, body.user)
    allowed = not budget.exhausted and unverified is None
    message = ""
    if unverified is not None:
        message = unverified
    elif not allowed:
        message = await refusal_message(session, budget)
        if settings.billing_enabled:
            message += f" Upgrade: {billing_page_url(settings)}"
    return SpawnPolicyOut(
        allowed=allowed,
        message=message,
        limits=LimitsOut(
            plan_code=plan.code,
            plan_name=plan.name,
            cpu_limit=plan.cpu_limit,
            memory_limit_mb=plan.memory_limit_mb,
            idle_timeout_minutes=plan.idle_timeout_minutes,
            named_servers=plan.named_servers,
            daily_minutes=plan.daily_minutes,
        ),
        minutes_used=budget.minutes_used,
        minutes_left=budget.minutes_left,
        images=await images_for(session, body.user),
    )


@router.post("/sessions", status_code=204)
async def session_event(body: SessionEventIn, _: QuotaService, session: SessionDep) -> None:
    if body.event == "start":
        budget = await budget_for(session, body.user, body.at)
        await record_start(
            session,
            hub_name=body.user,
            server_name=body.server_name,
            started_at=body.started_at,
            plan_code=budget.plan.code,
        )
    else:
        await record_stop(
            session,
            hub_name=body.user,
            server_name=body.server_name,
            started_at=body.started_at,
            ended_at=body.at,
            reason=body.reason or "stopped",
        )
    await session.commit()


@router.post("/heartbeat", response_model=HeartbeatOut)
async def report_running(
    body: HeartbeatIn, _: QuotaService, session: SessionDep, settings: SettingsDep
) -> HeartbeatOut:
    servers = [RunningServer(s.user, s.server_name, s.started_at) for s in body.servers]
    storage = {sample.user: sample.bytes for sample in body.storage}
    now = datetime.now(UTC)
    verdicts = await heartbeat(session, servers, now, settings.quota_warn_minutes, storage)
    # Usage notices raised here, and those raised where no mail could be sent (jobs).
    await notices.mail_raised(session, settings)
    await notices.mail_pending(session, settings, now)
    return HeartbeatOut(verdicts=[VerdictOut(**vars(v)) for v in verdicts])
