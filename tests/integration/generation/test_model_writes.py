"""With a model configured, the model plans and writes the project; the real gates check it.

The model is a local OpenAI-compatible server (``tests/support/fake_openai.py``) whose replies are
scripted per step. Unusable replies (unsafe paths, not JSON) fall back to the offline
engine for that step, with a ``model.reply_unusable`` event; the token budget stops
further requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from api.core.config import Settings
from api.core.db import Database
from api.generation.llm import LLMProvider
from api.generation.pipeline import run_project
from api.models import Project, ProjectEvent
from api.patterns.embedder import Embedder
from api.worker import build_worker_app
from tests.support.api import in_process_api
from tests.support.asgi import serve_app
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.generation import events_of, new_project, scripted
from tests.support.identity import as_user

DESCRIPTION = "A command line tool that converts temperatures between Celsius and Fahrenheit"

PLAN: dict[str, Any] = {
    "components": [
        {
            "title": "conversions",
            "purpose": "pure conversion functions",
            "files": ["tempconv/core.py"],
        },
        {"title": "command line", "purpose": "argparse entry point", "files": ["tempconv/cli.py"]},
    ],
    "files": ["tempconv/__init__.py", "tempconv/core.py", "tempconv/cli.py", "tests/test_core.py"],
    "decisions": ["pure functions apart from the CLI, so they are easy to test"],
}
CODE = {
    "tempconv/__init__.py": "",
    "tempconv/core.py": (
        "def to_fahrenheit(celsius: float) -> float:\n    return celsius * 9 / 5 + 32\n\n\n"
        "def to_celsius(fahrenheit: float) -> float:\n    return (fahrenheit - 32) * 5 / 9\n"
    ),
    "tempconv/cli.py": (
        "import argparse\n\nfrom tempconv.core import to_celsius, to_fahrenheit\n\n\n"
        "def main(argv=None):\n    parser = argparse.ArgumentParser()\n"
        "    parser.add_argument('unit', choices=['c', 'f'])\n"
        "    parser.add_argument('value', type=float)\n    args = parser.parse_args(argv)\n"
        "    convert = to_fahrenheit if args.unit == 'c' else to_celsius\n"
        "    print(round(convert(args.value), 2))\n"
    ),
}
TESTS = {
    "tests/test_core.py": (
        "from tempconv.cli import main\nfrom tempconv.core import to_celsius, to_fahrenheit\n\n\n"
        "def test_boiling_point():\n    assert to_fahrenheit(100) == 212\n\n\n"
        "def test_round_trip():\n    assert to_celsius(to_fahrenheit(37.5)) == 37.5\n\n\n"
        "def test_cli(capsys):\n    main(['f', '32'])\n"
        "    assert capsys.readouterr().out == '0.0\\n'\n"
    )
}
README = {"README.md": "# tempconv\n\nConverts temperatures.\n\n    python -m pytest\n"}
GOOD = {
    "architect": PLAN,
    "code_generator": {"files": CODE},
    "test_writer": {"files": TESTS},
    "doc_writer": {"files": README},
}


SLOPPY = {
    **GOOD,
    "code_generator": {"files": {"../outside.py": "print('escaped')\n"}},
    "test_writer": "Sure! Here are your tests: def test_it(): pass",
}


@pytest.fixture(scope="module")
def model_server() -> Iterator[tuple[str, Any]]:
    app, calls, _bodies = fake_openai_app(
        scripts={"writer": scripted(GOOD), "sloppy": scripted(SLOPPY)}
    )
    with serve_app(app) as url:
        yield f"{url}/v1", calls


def steps(events: list[ProjectEvent]) -> dict[str, dict[str, Any]]:
    return {e.payload["step"]: e.payload for e in events if e.type == "step.completed"}


@pytest.mark.slow
async def test_the_model_writes_the_project_through_the_api_and_the_gates_check_it(
    pg_settings: Settings, gen_url: str, gen_db: Database, model_server: tuple[str, Any]
) -> None:
    url, calls = model_server
    settings = Settings(
        _env_file=None,
        data_dir=pg_settings.data_dir,
        database_url=gen_url,
        llm_base_url=url,
        llm_model="writer",
        llm_api_key=KEY,
    )
    before = calls["writer"]
    async with in_process_api(settings) as http:
        await http.put("/admin/users/dave/plan", json={"plan_code": "pro"}, headers=as_user("root"))
        created = await http.post(
            "/projects", json={"description": DESCRIPTION}, headers=as_user("dave")
        )
        assert created.status_code == 202, created.text
        project_id = created.json()["id"]
        worker = build_worker_app(settings, gen_db)
        async with worker.open_async():
            await worker.run_worker_async(
                queues=["generation"], wait=False, install_signal_handlers=False
            )
        body = (await http.get(f"/projects/{project_id}", headers=as_user("dave"))).json()
        state = (await http.get(f"/projects/{project_id}/state", headers=as_user("dave"))).json()
    assert body["status"] == "succeeded", state["gates"]
    assert calls["writer"] - before == 4  # architect, code, tests, docs; no repair needed
    summary = body["summary"]
    assert summary["engine"] == "llm:writer" and summary["offline_steps"] == []
    assert summary["components"] == ["conversions", "command line"]
    assert summary["tokens"] == 4 * 15
    for path, content in {**CODE, **TESTS, **README}.items():
        assert state["files"][path] == content
    tests = state["gates"]["tests"]["metrics"]
    # The model's three tests and the generated import test of each of the three modules.
    assert (tests["tests"], tests["failed"], tests["pass_rate"]) == (6, 0, 1.0)
    recorded = steps(await events_of(gen_db, uuid.UUID(project_id)))
    for step in ("architect", "code_generator", "test_writer", "doc_writer"):
        assert recorded[step]["engine"] == "llm:writer"
        assert recorded[step]["tokens"] == 15
    assert recorded["architect"]["decision"] == PLAN["decisions"][0]
    assert recorded["quality_gates"]["tokens"] == 0


async def test_an_unusable_reply_falls_back_to_the_offline_engine_for_that_step(
    gen_db: Database, embedder: Embedder, model_server: tuple[str, Any]
) -> None:
    url, _calls = model_server
    project_id = await new_project(gen_db, "A rate limiter utility using a token bucket")
    llm = LLMProvider(url, "sloppy", api_key=KEY)
    status = await run_project(gen_db, embedder, project_id, llm=llm)
    events = await events_of(gen_db, project_id)
    unusable = {e.step: e.payload for e in events if e.type == "model.reply_unusable"}
    assert set(unusable) == {"code_generator", "test_writer"}
    assert "outside the project" in unusable["code_generator"]["error"]
    assert "'../outside.py'" in unusable["code_generator"]["error"]
    assert "not a JSON object" in unusable["test_writer"]["error"]
    assert all(u["fallback"] == "offline" and u["tokens"] == 15 for u in unusable.values())
    recorded = steps(events)
    assert recorded["code_generator"]["engine"] == "offline"
    assert recorded["code_generator"]["tokens"] == 15  # spent, though unusable
    assert recorded["doc_writer"]["engine"] == "llm:sloppy"
    files = {e.payload["path"] for e in events if e.type == "file.written"}
    assert not any("outside" in path for path in files)
    assert status == "succeeded"  # the offline composition passes the gates
    async with gen_db.sessionmaker() as session:
        project = await session.get(Project, project_id)
    assert project is not None
    assert project.summary["offline_steps"] == ["code_generator", "test_writer"]
    assert "fell back to the offline engine" in project.summary["note"]


async def test_the_token_budget_stops_model_requests(
    gen_db: Database, embedder: Embedder, model_server: tuple[str, Any]
) -> None:
    url, calls = model_server
    before = calls["writer"]
    project_id = await new_project(gen_db, DESCRIPTION)
    llm = LLMProvider(url, "writer", api_key=KEY)
    status = await run_project(gen_db, embedder, project_id, llm=llm, token_budget=30)
    assert calls["writer"] - before == 2  # architect and code; then the budget is used up
    events = await events_of(gen_db, project_id)
    unusable = {e.step: e.payload for e in events if e.type == "model.reply_unusable"}
    assert set(unusable) == {"test_writer", "doc_writer"}
    assert all(u["code"] == "token_budget_exceeded" for u in unusable.values())
    assert "30 tokens of its budget of 30" in unusable["test_writer"]["error"]
    # The model's code is checked by the generated import tests; the offline README says so.
    files = {e.payload["path"]: e.payload["content"] for e in events if e.type == "file.written"}
    assert files["tempconv/core.py"] == CODE["tempconv/core.py"]
    assert "tests/test_generated_imports.py" in files and "tests/test_core.py" not in files
    assert status == "succeeded"
