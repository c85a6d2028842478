"""What the Voila dashboards show: one person's metrics, learning curve, orchestration.

Everything is computed for the person asking: their projects, their pattern uses and the
patterns they can see. Numbers are computed from the database on each call.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.core.config import Settings
from api.core.tenancy import Scope, scope_of
from api.generation import eventlog, pools, service
from api.generation.agents import PHASES, Agent, default_agents
from api.generation.pipeline import current_attempt
from api.models import Pattern, PatternUse, Project, ProjectEvent
from api.patterns import library
from api.patterns.access import visible_to
from api.schemas.dashboards import (
    AgentTask,
    GateOut,
    GenerationQueue,
    LearningCurve,
    LearningPoint,
    Metrics,
    Orchestration,
    QueuedJob,
)

HOURS_PER_PROJECT = 6.0
HOURS_PER_PATTERN_USE = 0.5
ORCHESTRATOR = "orchestrator"


def hierarchy(agents: Sequence[Agent]) -> dict[str, list[str]]:
    """The orchestration graph: the orchestrator directs the phases, each phase its agents."""
    graph: dict[str, list[str]] = {ORCHESTRATOR: []}
    for phase in PHASES:
        members = [agent.name for agent in agents if agent.phase == phase]
        if members:
            graph[ORCHESTRATOR].append(phase)
            graph[phase] = members
    return graph


def formula(rate: float, currency: str) -> str:
    return (
        f"hours saved = {HOURS_PER_PROJECT:g} h * succeeded projects + "
        f"{HOURS_PER_PATTERN_USE:g} h * applied patterns whose gates passed; "
        f"cost saved = hours saved * {rate:g} {currency}/h"
    )


async def _gate_counts(session: AsyncSession, user: HubUser) -> tuple[int, int]:
    passed = ProjectEvent.payload["passed"].as_boolean()
    row = (
        await session.execute(
            select(func.count(), func.count().filter(passed))
            .select_from(ProjectEvent)
            .join(Project, Project.id == ProjectEvent.project_id)
            .where(Project.owner == user.name, ProjectEvent.type == "gate.result")
        )
    ).one()
    return int(row[0]), int(row[1])


async def metrics(session: AsyncSession, user: HubUser, settings: Settings) -> Metrics:
    """Patterns, projects, time and cost saved, and gate quality for one person."""
    viewer = await library.viewer_for(session, user)
    library_size, learned = (
        await session.execute(
            select(func.count(), func.count().filter(Pattern.seed_key.is_(None))).where(
                visible_to(viewer)
            )
        )
    ).one()
    total, succeeded = (
        await session.execute(
            select(func.count(), func.count().filter(Project.status == "succeeded")).where(
                Project.owner == user.name
            )
        )
    ).one()
    uses, uses_passed = (
        await session.execute(
            select(func.count(), func.count().filter(PatternUse.outcome == "passed")).where(
                PatternUse.user_name == user.name
            )
        )
    ).one()
    gates_run, gates_passed = await _gate_counts(session, user)
    hours = HOURS_PER_PROJECT * succeeded + HOURS_PER_PATTERN_USE * uses_passed
    rate = settings.dashboards_hourly_rate
    currency = settings.dashboards_currency
    return Metrics(
        library_size=library_size,
        patterns_learned=learned,
        projects_total=total,
        projects_accelerated=succeeded,
        pattern_uses=uses,
        pattern_uses_passed=uses_passed,
        hours_saved=round(hours, 1),
        cost_saved=round(hours * rate, 2),
        currency=currency,
        quality_score=round(gates_passed / gates_run, 3) if gates_run else None,
        gates_run=gates_run,
        formula=formula(rate, currency),
    )


async def learning_curve(session: AsyncSession, user: HubUser, days: int) -> LearningCurve:
    """Per day of the last ``days``: patterns the person can see and their gate pass rate."""
    viewer = await library.viewer_for(session, user)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    before = await session.scalar(
        select(func.count()).where(visible_to(viewer), cast(Pattern.created_at, Date) < first)
    )
    day = cast(Pattern.created_at, Date)
    added = dict(
        (
            await session.execute(
                select(day, func.count()).where(visible_to(viewer), day >= first).group_by(day)
            )
        ).all()
    )
    gate_day = cast(ProjectEvent.occurred_at, Date)
    passed = ProjectEvent.payload["passed"].as_boolean()
    gates: dict[date, tuple[int, int]] = {
        d: (int(n), int(p))
        for d, n, p in (
            await session.execute(
                select(gate_day, func.count(), func.count().filter(passed))
                .join(Project, Project.id == ProjectEvent.project_id)
                .where(
                    Project.owner == user.name,
                    ProjectEvent.type == "gate.result",
                    gate_day >= first,
                )
                .group_by(gate_day)
            )
        )
    }
    points = []
    running = int(before or 0)
    for offset in range(days):
        current = first + timedelta(days=offset)
        running += int(added.get(current, 0))
        run, ok = gates.get(current, (0, 0))
        points.append(
            LearningPoint(
                day=current,
                patterns=running,
                gates_run=run,
                pass_rate=round(ok / run, 3) if run else None,
            )
        )
    return LearningCurve(points=points)


def _tasks(agents: Sequence[Agent], events: list[Any], status: str) -> list[AgentTask]:
    attempt = current_attempt(events)
    completed = {e.payload["step"]: e.payload for e in attempt if e.type == "step.completed"}
    tasks = []
    running_assigned = False
    for agent in agents:
        done = completed.get(agent.name)
        if done is not None:
            tasks.append(
                AgentTask(
                    agent=agent.name,
                    status="done",
                    timing_ms=done.get("timing_ms"),
                    decision=str(done.get("decision") or "")[:300] or None,
                )
            )
            continue
        state = "pending"
        if not running_assigned and status == "running":
            state, running_assigned = "running", True
        elif not running_assigned and status == "failed":
            state, running_assigned = "failed", True
        tasks.append(AgentTask(agent=agent.name, status=state, timing_ms=None, decision=None))
    return tasks


async def orchestration(
    session: AsyncSession, user: HubUser, project_id: uuid.UUID
) -> Orchestration:
    """A project's agents with their tasks, its gates, and the graph that directs them."""
    project: Project = await service.owned_project(session, user, project_id)
    events = await eventlog.all_events(session, project_id)
    agents = default_agents()
    tasks = _tasks(agents, events, project.status)
    gates = [
        GateOut(
            gate=str(e.payload.get("gate")),
            passed=bool(e.payload.get("passed")),
            metrics=dict(e.payload.get("metrics") or {}),
            step=e.step,
        )
        for e in current_attempt(events)
        if e.type == "gate.result"
    ]
    done = sum(1 for task in tasks if task.status == "done")
    return Orchestration(
        project_id=project.id,
        description=project.description,
        status=project.status,
        progress=round(done / len(tasks), 3) if tasks else 0.0,
        hierarchy=hierarchy(agents),
        tasks=tasks,
        gates=gates,
        last_seq=events[-1].seq if events else 0,
    )


async def generation_queue(session: AsyncSession, user: HubUser) -> GenerationQueue:
    """The asker's generation pool: what runs and waits in it (see api.generation.pools)."""
    scope = scope_of(session) or Scope()
    pool = await pools.pool_of(session, user.name, scope.tenant_id)
    entries = await pools.queue_of(session, pool)
    projects = {
        project.job_id: project
        for project in await session.scalars(
            select(Project).where(Project.job_id.in_([job_id for _s, _l, job_id in entries]))
        )
    }
    jobs = []
    for status, lock, job_id in entries:
        project = projects.get(job_id)
        if project is None or not (scope.tenant_admin or project.owner == user.name):
            continue
        jobs.append(
            QueuedJob(
                project_id=project.id,
                description=project.description,
                owner=project.owner,
                state="running" if status == "doing" else "waiting",
                slot=int(lock.rsplit(":", 1)[1]),
            )
        )
    running = sum(1 for status, _l, _j in entries if status == "doing")
    return GenerationQueue(
        pool="organisation" if pool.owner.startswith("org:") else "personal",
        size=pool.size,
        running=running,
        waiting=len(entries) - running,
        jobs=jobs,
    )
