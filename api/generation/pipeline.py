"""The pipeline: runs the agents in order, recording each step in the project's event log.

Resumable: a step whose ``step.completed`` event exists (since the last retry) is skipped
and its recorded outputs reused, so a job restarted after a crash continues where it
stopped and writes no event twice. Cancellation is checked before and after every step,
and watched while a step runs: a cancel stops the running step (its model request, its
sandboxed gate process) within about ``CANCEL_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from api.billing import meters
from api.core.db import Database
from api.core.tenancy import PLATFORM, Scope
from api.generation import eventlog
from api.generation.agents import Agent, StepContext, StepOutcome, default_agents
from api.generation.agents.base import OFFLINE_ENGINE, ProjectInfo
from api.generation.errors import GenerationCancelled
from api.generation.llm import LLMProvider, TokenBudget
from api.generation.state import rebuild
from api.models import Project, ProjectEvent
from api.patterns.embedder import Embedder

log = logging.getLogger(__name__)

FINAL = ("succeeded", "failed", "cancelled")
OFFLINE_NOTE = "Generated offline from the pattern library's templates; no language model was used."
WRITING_STEPS = ("architect", "code_generator", "test_writer", "doc_writer")
CANCEL_POLL_SECONDS = 0.5


def current_attempt(events: Sequence[ProjectEvent]) -> list[ProjectEvent]:
    """The events since the last retry: what this attempt has already done."""
    start = 0
    for index, event in enumerate(events):
        if event.type == "project.retried":
            start = index + 1
    return list(events[start:])


async def run_project(
    database: Database,
    embedder: Embedder,
    project_id: uuid.UUID,
    agents: Sequence[Agent] | None = None,
    *,
    llm: LLMProvider | None = None,
    token_budget: int = 50_000,
) -> str:
    """Run (or resume) the pipeline; returns the project's final status."""
    agents = list(agents) if agents is not None else default_agents()
    # Every step reads and writes as the project's owner, in their organisation.
    database = database.in_scope(await job_scope(database, project_id))
    async with database.sessionmaker() as session:
        project = await eventlog.lock_project(session, project_id)
        if project.status in FINAL:
            return project.status
        project.status = "running"
        project.attempts += 1
        engine = llm.name if llm is not None else OFFLINE_ENGINE
        project.engine = engine
        events = await eventlog.all_events(session, project_id)
        await eventlog.append(
            session, project_id, "job.attempt", {"attempt": project.attempts, "engine": engine}
        )
        info = ProjectInfo(
            project.id, project.owner, project.tenant_id, project.description, project.options
        )
        await session.commit()
    attempt = current_attempt(events)
    completed = {e.payload["step"]: e.payload for e in attempt if e.type == "step.completed"}
    spent = sum(int(e.payload.get("tokens") or 0) for e in events if e.type == "step.completed")
    context = StepContext(
        project=info,
        database=database,
        embedder=embedder,
        llm=llm,
        budget=TokenBudget(token_budget, used=spent),
        engine=engine,
    )
    context.files = rebuild(events).files
    context.step_engines = {
        step: str(payload.get("engine") or OFFLINE_ENGINE) for step, payload in completed.items()
    }
    try:
        for agent in agents:
            if agent.name in completed:
                context.outputs[agent.name] = completed[agent.name]["outputs"]
                continue
            await _check_not_cancelled(database, project_id)
            started = time.perf_counter()
            outcome = await _run_watched(agent, context, database, project_id)
            timing_ms = round((time.perf_counter() - started) * 1000, 1)
            async with database.sessionmaker() as session:
                project = await eventlog.lock_project(session, project_id)
                if project.status == "cancelled":
                    raise GenerationCancelled()
                for path, content in sorted(outcome.files.items()):
                    await eventlog.append(
                        session,
                        project_id,
                        "file.written",
                        {"path": path, "content": content},
                        step=agent.name,
                    )
                for gate in outcome.gates:
                    await eventlog.append(session, project_id, "gate.result", gate, step=agent.name)
                for notice in outcome.notices:
                    await eventlog.append(
                        session, project_id, "model.reply_unusable", notice, step=agent.name
                    )
                await eventlog.append(
                    session,
                    project_id,
                    "step.completed",
                    {
                        "step": agent.name,
                        "inputs": outcome.inputs,
                        "outputs": outcome.outputs,
                        "decision": outcome.decision,
                        "timing_ms": timing_ms,
                        "tokens": outcome.tokens,
                        "engine": outcome.engine,
                    },
                    step=agent.name,
                )
                # A step run is an agent spawned: the owner's agent_steps meter.
                await meters.use(session, info.owner, "agent_steps", tenant_id=info.tenant_id)
                await session.commit()
            context.outputs[agent.name] = outcome.outputs
            context.step_engines[agent.name] = outcome.engine
            context.files.update(outcome.files)
            log.info("project %s: %s in %.0f ms", project_id, agent.name, timing_ms)
    except GenerationCancelled:
        log.info("project %s was cancelled", project_id)
        return "cancelled"
    final = context.outputs.get("repair") or context.outputs.get("quality_gates", {})
    passed = bool(final.get("passed"))
    return await _finish(database, project_id, "succeeded" if passed else "failed", context)


async def _run_watched(
    agent: Agent, context: StepContext, database: Database, project_id: uuid.UUID
) -> StepOutcome:
    """Run one step while watching for a cancel; a cancel stops the step at once (its model
    stream closed, its sandboxed process killed) and raises :class:`GenerationCancelled`."""
    step = asyncio.ensure_future(agent.run(context))
    try:
        while True:
            done, _ = await asyncio.wait({step}, timeout=CANCEL_POLL_SECONDS)
            if done:
                return step.result()
            if await _is_cancelled(database, project_id):
                step.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await step
                raise GenerationCancelled()
    finally:
        if not step.done():  # the job itself was cancelled (worker stopping)
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await step


async def job_scope(database: Database, project_id: uuid.UUID) -> Scope:
    """Whose job this is: the one platform-wide read a worker makes before it runs it."""
    async with database.scoped(PLATFORM) as session:
        row = (
            await session.execute(
                select(Project.owner, Project.tenant_id).where(Project.id == project_id)
            )
        ).first()
    return Scope(user=row.owner, tenant_id=row.tenant_id) if row else Scope()


async def _is_cancelled(database: Database, project_id: uuid.UUID) -> bool:
    async with database.sessionmaker() as session:
        status = await session.scalar(select(Project.status).where(Project.id == project_id))
    return status == "cancelled"


async def _check_not_cancelled(database: Database, project_id: uuid.UUID) -> None:
    async with database.sessionmaker() as session:
        project = await eventlog.lock_project(session, project_id)
        if project.status == "cancelled":
            raise GenerationCancelled()


def offline_steps(context: StepContext) -> list[str]:
    return [
        s for s in WRITING_STEPS if context.step_engines.get(s, OFFLINE_ENGINE) == OFFLINE_ENGINE
    ]


def engine_note(context: StepContext) -> str:
    if context.llm is None:
        return OFFLINE_NOTE
    fallen = offline_steps(context)
    note = f"Written by the model {context.llm.model}."
    if fallen:
        note += (
            " These steps fell back to the offline engine (the model's reply was unusable or "
            f"the token budget was used up): {', '.join(fallen)}."
        )
    return note


async def _finish(
    database: Database, project_id: uuid.UUID, status: str, context: StepContext
) -> str:
    gates = dict(context.outputs.get("quality_gates", {}).get("gates", {}))
    repair = context.outputs.get("repair", {})
    if repair.get("rounds"):
        gates["after_repair"] = bool(repair.get("passed"))
    plan = context.outputs.get("architect", {})
    components = (plan.get("model_plan") or plan).get("components", [])
    summary: dict[str, Any] = {
        "repair_rounds": repair.get("rounds", 0),
        "tokens": context.budget.used if context.budget else 0,
        "engine": context.engine,
        "note": engine_note(context),
        "gates": gates,
        "files": len(context.files),
        "components": [c["title"] for c in components],
    }
    if context.llm is not None:
        summary["offline_steps"] = offline_steps(context)
    async with database.sessionmaker() as session:
        project = await eventlog.lock_project(session, project_id)
        if project.status == "cancelled":
            return "cancelled"
        project.status = status
        project.summary = summary
        await eventlog.append(
            session, project_id, "project.finished", {"status": status, **summary}
        )
        await session.commit()
    return status
