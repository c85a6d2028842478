"""The orchestration graph comes from the pipeline's own agents and their phases."""

from __future__ import annotations

from dataclasses import dataclass

from api.dashboards import ORCHESTRATOR, hierarchy
from api.generation.agents import PHASES, Phase, StepContext, StepOutcome, default_agents


def test_every_agent_of_the_pipeline_appears_once_under_its_phase() -> None:
    agents = default_agents()
    graph = hierarchy(agents)
    assert graph[ORCHESTRATOR] == list(PHASES)
    placed = [name for phase in PHASES for name in graph[phase]]
    assert sorted(placed) == sorted(agent.name for agent in agents)
    for agent in agents:
        assert agent.name in graph[agent.phase]


@dataclass
class Reviewer:
    name: str = "reviewer"
    phase: Phase = "verify"

    async def run(self, context: StepContext) -> StepOutcome:
        raise NotImplementedError


def test_a_new_agent_joins_the_graph_by_its_phase_and_empty_phases_are_left_out() -> None:
    graph = hierarchy([Reviewer()])
    assert graph == {ORCHESTRATOR: ["verify"], "verify": ["reviewer"]}
