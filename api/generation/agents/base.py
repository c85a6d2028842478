"""What an agent gets and returns. Agents do not write events; the pipeline does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

from api.core.db import Database
from api.generation.llm import LLMProvider, TokenBudget
from api.patterns.embedder import Embedder

OFFLINE_ENGINE = "offline"
# The part of the job an agent belongs to, in the order they run (the orchestration graph
# of the dashboards groups agents by it).
Phase = Literal["plan", "build", "verify"]
PHASES: tuple[Phase, ...] = get_args(Phase)


@dataclass(frozen=True)
class ProjectInfo:
    id: uuid.UUID
    owner: str
    tenant_id: uuid.UUID | None
    description: str
    options: dict[str, Any]


@dataclass
class StepContext:
    project: ProjectInfo
    database: Database
    embedder: Embedder
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    engine: str = OFFLINE_ENGINE
    llm: LLMProvider | None = None
    budget: TokenBudget | None = None
    # The engine each finished step ran with (see ``StepOutcome.engine``).
    step_engines: dict[str, str] = field(default_factory=dict)


@dataclass
class StepOutcome:
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    decision: str
    files: dict[str, str] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    # Who did the step's work: ``OFFLINE_ENGINE`` or the model's ``LLMProvider.name``.
    engine: str = OFFLINE_ENGINE
    # ``model.reply_unusable`` payloads: model replies the step could not use.
    notices: list[dict[str, Any]] = field(default_factory=list)


class Agent(Protocol):
    name: str
    phase: Phase

    async def run(self, context: StepContext) -> StepOutcome: ...
