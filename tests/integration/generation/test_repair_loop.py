"""With a model configured, failing gates trigger the bounded repair loop inside the
pipeline; its tokens are recorded in the event log and counted against the job's budget."""

from __future__ import annotations

import json
from typing import Any

import httpx

from api.core.db import Database
from api.generation import eventlog
from api.generation.agents import default_agents
from api.generation.agents.base import StepContext, StepOutcome
from api.generation.llm import LLMProvider
from api.generation.pipeline import run_project
from api.models import Project
from api.patterns.embedder import Embedder
from tests.support.generation import new_project

CALCULATOR = "A calculator library"
FIXED = "def add(a, b):\n    return a + b\n"


class BrokenCode:
    """Stands in for the code generator: writes a bug the tests will catch."""

    name = "code_generator"

    async def run(self, context: StepContext) -> StepOutcome:
        files = {
            "calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n"
            "    assert add(2, 3) == 5\n",
        }
        return StepOutcome({}, {"files": sorted(files)}, "a deliberate bug", files=files)


class NoMoreTests:
    """The bug's own test is the only one."""

    name = "test_writer"

    async def run(self, context: StepContext) -> StepOutcome:
        return StepOutcome({}, {"tests": []}, "the code generator wrote the test")


def fake_model(fixed: str = FIXED) -> httpx.MockTransport:
    """Plans and documents for 10 tokens each; a repair costs 220 tokens."""

    def reply(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        tokens = {"prompt_tokens": 10, "completion_tokens": 0}
        if system.startswith("[step: architect]"):
            answer: dict[str, Any] = {"components": [{"title": "calc", "files": ["calc.py"]}]}
        elif system.startswith("[step: doc_writer]"):
            answer = {"files": {"README.md": "# calc\n"}}
        else:
            assert system.startswith("[step: repair]")
            assert "assert" in user  # the failing gate's report
            answer = {"files": {"calc.py": fixed}}
            tokens = {"prompt_tokens": 200, "completion_tokens": 20}
        chunk = {"choices": [{"delta": {"content": json.dumps(answer)}}], "model": "fake"}
        usage = {"choices": [], "usage": tokens}
        stream = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n"
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(reply)


def agents() -> list[Any]:
    replaced = {"code_generator": BrokenCode(), "test_writer": NoMoreTests()}
    return [replaced.get(a.name, a) for a in default_agents()]


async def test_failing_gates_are_repaired_when_a_model_is_configured(
    gen_db: Database, embedder: Embedder
) -> None:
    project_id = await new_project(gen_db, CALCULATOR)
    llm = LLMProvider("http://model.test/v1", "fake", transport=fake_model())
    status = await run_project(gen_db, embedder, project_id, agents(), llm=llm)
    assert status == "succeeded"
    async with gen_db.sessionmaker() as session:
        events = await eventlog.all_events(session, project_id)
        project = await session.get(Project, project_id)
    assert project is not None
    gates = [e.payload for e in events if e.type == "gate.result"]
    assert [g["passed"] for g in gates if g["gate"] == "tests"] == [False, True]
    repair = next(e for e in events if e.type == "step.completed" and e.step == "repair")
    assert repair.payload["tokens"] == 220
    assert repair.payload["decision"] == "repaired in 1 round(s)"
    assert project.summary["tokens"] == 240 and project.summary["gates"]["after_repair"] is True


async def test_without_a_model_the_project_fails_with_the_gate_report(
    gen_db: Database, embedder: Embedder
) -> None:
    project_id = await new_project(gen_db, CALCULATOR)
    assert await run_project(gen_db, embedder, project_id, agents()) == "failed"
    async with gen_db.sessionmaker() as session:
        events = await eventlog.all_events(session, project_id)
    tests = next(
        e.payload for e in events if e.type == "gate.result" and e.payload["gate"] == "tests"
    )
    assert tests["passed"] is False and "assert -1 == 5" in tests["report"]
    repair = next(e for e in events if e.type == "step.completed" and e.step == "repair")
    assert "no model configured" in repair.payload["decision"]


async def test_the_token_budget_stops_the_repair_loop(gen_db: Database, embedder: Embedder) -> None:
    project_id = await new_project(gen_db, CALCULATOR)
    useless = fake_model(fixed="def add(a, b):\n    return a * b\n")  # still wrong
    llm = LLMProvider("http://model.test/v1", "fake", transport=useless)
    status = await run_project(gen_db, embedder, project_id, agents(), llm=llm, token_budget=100)
    assert status == "failed"
    async with gen_db.sessionmaker() as session:
        events = await eventlog.all_events(session, project_id)
    repair = next(e for e in events if e.type == "step.completed" and e.step == "repair")
    assert repair.payload["tokens"] == 220  # one request: the second was refused
    assert "240 tokens of its budget of 100" in repair.payload["decision"]
