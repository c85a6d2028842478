"""Response bodies of the dashboards' data endpoints."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field


class Metrics(BaseModel):
    library_size: int = Field(description="Patterns you can see (global, your tenant's, yours).")
    patterns_learned: int = Field(
        description="Patterns you can see beyond the shipped seed library: learned from work."
    )
    projects_total: int
    projects_accelerated: int = Field(description="Your generated projects that succeeded.")
    pattern_uses: int = Field(description="Times you applied a pattern.")
    pattern_uses_passed: int = Field(description="Applied patterns whose quality gates passed.")
    hours_saved: float
    cost_saved: float
    currency: str
    quality_score: float | None = Field(
        description="Share of quality gates passed in your projects (0..1); null without gates."
    )
    gates_run: int
    formula: str = Field(description="How hours and cost saved are estimated, in words.")


class LearningPoint(BaseModel):
    day: date
    patterns: int = Field(description="Patterns you could see at the end of the day.")
    gates_run: int
    pass_rate: float | None


class LearningCurve(BaseModel):
    points: list[LearningPoint]


class AgentTask(BaseModel):
    agent: str
    status: Literal["pending", "running", "done", "failed"]
    timing_ms: float | None
    decision: str | None


class GateOut(BaseModel):
    gate: str
    passed: bool
    metrics: dict[str, Any]
    step: str | None


class Orchestration(BaseModel):
    project_id: uuid.UUID
    description: str
    status: str
    progress: float = Field(description="Share of the pipeline's agents done (0..1).")
    hierarchy: dict[str, list[str]] = Field(description="Who directs whom: parent → children.")
    tasks: list[AgentTask]
    gates: list[GateOut]
    last_seq: int


class QueuedJob(BaseModel):
    project_id: uuid.UUID
    description: str
    owner: str
    state: Literal["running", "waiting"]
    slot: int = Field(description="Which of the pool's slots the job runs in (from 0).")


class GenerationQueue(BaseModel):
    """The generation pool the asker's jobs run in: their organisation's, or their own."""

    pool: Literal["organisation", "personal"]
    size: int = Field(description="How many of the pool's jobs run at once (the plan's).")
    running: int
    waiting: int
    jobs: list[QueuedJob] = Field(
        description="The pool's jobs, oldest first: all of them for an organisation's "
        "admins, one's own for everyone else (the counts include everyone's)."
    )
