"""Data behind the Voila dashboards, for the person asking (computed in api.dashboards)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api import dashboards
from api.deps import CurrentUser, SessionDep, SettingsDep
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
