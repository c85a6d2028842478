"""Data behind the Voila dashboards, for the person asking (computed in api.dashboards)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from api import dashboards
from api.accounts.roles import is_platform_admin
from api.auth import HubUser
from api.billing.analytics import billing_analytics
from api.core.tenancy import PLATFORM, set_scope
from api.deps import CurrentUser, SessionDep, SettingsDep
from api.errors import Forbidden
from api.models import Account
from api.schemas.billing_analytics import BillingAnalytics
from api.schemas.dashboards import GenerationQueue, LearningCurve, Metrics, Orchestration

router = APIRouter(prefix="/dashboards", tags=["dashboards"])


@router.get("/metrics", summary="Your metrics: patterns, projects, time and cost saved")
async def metrics(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Metrics:
    return await dashboards.metrics(session, user, settings)


@router.get("/learning-curve", summary="Patterns you can see and gate pass rate, per day")
async def learning_curve(
    user: CurrentUser,
    session: SessionDep,
    days: Annotated[int, Query(ge=2, le=365, description="How many days back")] = 30,
) -> LearningCurve:
    return await dashboards.learning_curve(session, user, days)


@router.get("/orchestration/{project_id}", summary="A project's agents, tasks and gates")
async def orchestration(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Orchestration:
    return await dashboards.orchestration(session, user, project_id)


@router.get("/queue", summary="The generation pool your jobs run in: what runs and waits")
async def generation_queue(user: CurrentUser, session: SessionDep) -> GenerationQueue:
    return await dashboards.generation_queue(session, user)


async def billing_admin(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> HubUser:
    """A platform admin: one the hub says is, or, since a dashboard's credential never
    carries admin rights, one whose account is (``roles.is_platform_admin``)."""
    if not user.admin:
        account = await session.scalar(select(Account).where(Account.username == user.name))
        if account is None or not is_platform_admin(account, settings):
            raise Forbidden("Only platform admins may see the billing analytics.")
    await set_scope(session, PLATFORM)  # the numbers span every organisation
    return user


@router.get(
    "/billing",
    summary="Billing analytics for platform admins: subscriptions, MRR, trials, churn, usage",
    description="What each number means is in the response's ``definitions`` and in "
    "``api.billing.analytics``.",
)
async def billing(
    _: Annotated[HubUser, Depends(billing_admin)], session: SessionDep, settings: SettingsDep
) -> BillingAnalytics:
    return await billing_analytics(session, settings)
