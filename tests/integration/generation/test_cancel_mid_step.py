"""A cancel stops the running step itself: a sandboxed gate's processes are killed and a
model request is dropped within about a second, not at the end of the step."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psutil

from api.core.db import Database
from api.generation import eventlog
from api.generation.agents import default_agents
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.generation.llm import LLMProvider
from api.generation.pipeline import run_project
from api.generation.sandbox import Limits
from api.models import Project
from api.patterns.embedder import Embedder
from tests.support.asgi import serve_app
from tests.support.fake_openai import HANG_SECONDS, KEY, fake_openai_app
from tests.support.generation import events_of, new_project
from tests.support.waiting import PATIENCE_SECONDS, eventually


class SlowTests:
    """Stands in for the code generator: a project whose test takes a minute."""

    name = "code_generator"
    phase: Phase = "build"

    async def run(self, context: StepContext) -> StepOutcome:
        files = {
            "slow.py": "VALUE = 1\n",
            "tests/test_slow.py": "import time\n\nimport slow\n\n\ndef test_slow():\n"
            "    time.sleep(60)\n    assert slow.VALUE == 1\n",
        }
        return StepOutcome({}, {"files": sorted(files)}, "a slow test", files=files)


def sandboxed() -> list[str]:
    """The command lines of this test process's sandboxes (bubblewrap and all inside)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            if child.name() == "bwrap" or "pytest" in command:
                found.append(command)
        except psutil.Error:
            continue
    return found


async def cancel(database: Database, project_id: uuid.UUID) -> float:
    async with database.sessionmaker() as session:
        project = await eventlog.lock_project(session, project_id)
        project.status = "cancelled"
        await eventlog.append(session, project_id, "project.cancelled", {"by": "dave"})
        await session.commit()
    return time.perf_counter()


async def wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


async def test_a_cancel_kills_a_running_gate_and_its_processes(
    gen_db: Database, embedder: Embedder
) -> None:
    project_id = await new_project(gen_db, "A helper module")
    agents = [SlowTests() if a.name == "code_generator" else a for a in default_agents()]
    job = asyncio.create_task(run_project(gen_db, embedder, project_id, agents))

    async def pytest_runs() -> bool:
        assert not job.done(), job.result()
        return any("-m pytest" in command for command in sandboxed())

    await wait_for(pytest_runs, 60)
    cancelled_at = await cancel(gen_db, project_id)
    assert await asyncio.wait_for(job, Limits().wall_seconds) == "cancelled"
    took = time.perf_counter() - cancelled_at
    print(f"cancel during a gate: {took:.2f} s")
    # Not a speed limit: a cancel that waited for the step would have lasted until the
    # sandbox's own time limit ended the one-minute test.
    assert took < Limits().wall_seconds, f"the cancel waited for the gate ({took:.2f} s)"
    assert sandboxed() == []
    events = await events_of(gen_db, project_id)
    assert not any(e.type == "step.completed" and e.step == "quality_gates" for e in events)
    async with gen_db.sessionmaker() as session:
        project = await session.get(Project, project_id)
    assert project is not None and project.status == "cancelled"


async def test_a_cancel_drops_a_model_request_in_flight(
    gen_db: Database, embedder: Embedder
) -> None:
    app, calls, _bodies = fake_openai_app()
    with serve_app(app) as url:
        # The model never answers and the client would wait longer than this test: only a
        # cancel that drops the request ends the job.
        llm = LLMProvider(f"{url}/v1", "hang", api_key=KEY, timeout=HANG_SECONDS)
        project_id = await new_project(gen_db, "A rate limiter utility using a token bucket")
        job = asyncio.create_task(run_project(gen_db, embedder, project_id, llm=llm))

        async def asking() -> bool:
            assert not job.done(), job.result()
            return calls["hang"] > 0

        await wait_for(asking, PATIENCE_SECONDS)
        cancelled_at = await cancel(gen_db, project_id)
        assert await asyncio.wait_for(job, PATIENCE_SECONDS) == "cancelled"
        took = time.perf_counter() - cancelled_at
        await eventually(lambda: calls["hang:dropped"] == 1, what="the model request dropped")
    print(f"cancel during a model request: {took:.2f} s")
    assert calls["hang"] == 1
    events = await events_of(gen_db, project_id)
    assert not any(e.type == "step.completed" and e.step == "architect" for e in events)
