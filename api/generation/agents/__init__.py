"""The pipeline's agents, in the order they run. Each is a small class with one job."""

from api.generation.agents.architect import Architect
from api.generation.agents.base import PHASES, Agent, Phase, StepContext, StepOutcome
from api.generation.agents.code_generator import CodeGenerator
from api.generation.agents.doc_writer import DocWriter
from api.generation.agents.intent import IntentAnalyst
from api.generation.agents.pattern_search import PatternSearcher
from api.generation.agents.quality_gates import QualityGates
from api.generation.agents.remember import Remember
from api.generation.agents.repair import Repairer
from api.generation.agents.test_writer import TestWriter


def default_agents() -> list[Agent]:
    return [
        IntentAnalyst(),
        PatternSearcher(),
        Architect(),
        CodeGenerator(),
        TestWriter(),
        DocWriter(),
        QualityGates(),
        Repairer(),
        Remember(),
    ]


__all__ = ["PHASES", "Agent", "Phase", "StepContext", "StepOutcome", "default_agents"]
