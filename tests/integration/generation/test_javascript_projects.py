"""A Node project: offline through the api and the queue, and written by a model; the
gates run node --check and node --test for real."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from api.core.db import Database
from api.generation import eventlog
from api.generation.llm import LLMProvider
from api.generation.pipeline import run_project
from api.models import Project
from api.patterns.embedder import Embedder
from tests.support.asgi import serve_app
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.generation import Drain, events_of, scripted
from tests.support.identity import as_user

CODE = {
    "wordcount.js": (
        "'use strict';\n\nfunction count(text) {\n"
        "  const words = text.split(/\\s+/).filter(Boolean);\n"
        "  return { words: words.length, characters: text.length };\n}\n\n"
        "module.exports = { count };\n"
    ),
    "bin/wc.js": (
        "#!/usr/bin/env node\n'use strict';\n\nconst { count } = require('../wordcount.js');\n\n"
        "if (require.main === module) {\n"
        "  console.log(JSON.stringify(count(process.argv.slice(2).join(' '))));\n}\n"
    ),
}
TESTS = {
    "test/wordcount.test.js": (
        "'use strict';\n\nconst test = require('node:test');\n"
        "const assert = require('node:assert');\nconst { count } = require('../wordcount.js');\n\n"
        "test('counts words and characters', () => {\n"
        "  assert.deepStrictEqual(count('to be or not'), { words: 4, characters: 12 });\n});\n"
    )
}
NODE_MODEL = {
    "architect": {
        "components": [{"title": "counter", "purpose": "count words", "files": ["wordcount.js"]}],
        "decisions": ["a pure function and a thin command line"],
    },
    "code_generator": {"files": CODE},
    "test_writer": {"files": TESTS},
    "doc_writer": {"files": {"README.md": "# wordcount\n\n    node --test\n"}},
}


async def test_an_offline_node_cli_is_generated_and_its_tests_pass(
    client: httpx.AsyncClient, drain: Drain
) -> None:
    created = await client.post(
        "/projects",
        json={
            "description": "A command line tool that greets people",
            "options": {"language": "javascript"},
        },
        headers=as_user("dave"),
    )
    assert created.status_code == 202, created.text
    project_id = created.json()["id"]
    await drain()
    body = (await client.get(f"/projects/{project_id}", headers=as_user("dave"))).json()
    state = (await client.get(f"/projects/{project_id}/state", headers=as_user("dave"))).json()
    assert body["status"] == "succeeded", state["gates"]
    files = state["files"]
    package = json.loads(files["package.json"])
    assert package["scripts"]["test"] == "node --test"
    assert "pyproject.toml" not in files and "node --test" in files["README.md"]
    tests = state["gates"]["tests"]["metrics"]
    # The skeleton's two tests and the generated load test of its two modules.
    assert (tests["tests"], tests["failed"], tests["pass_rate"]) == (4, 0, 1.0)
    assert state["gates"]["syntax"]["metrics"]["scripts"] == 4


async def test_bad_language_is_refused(client: httpx.AsyncClient) -> None:
    refused = await client.post(
        "/projects",
        json={"description": "A tool", "options": {"language": "cobol"}},
        headers=as_user("dave"),
    )
    assert refused.status_code == 422
    assert "javascript" in refused.text


async def test_a_model_writes_a_node_project(gen_db: Database, embedder: Embedder) -> None:
    app, calls, bodies = fake_openai_app(scripts={"node-writer": scripted(NODE_MODEL)})
    async with gen_db.sessionmaker() as session:
        project = Project(id=uuid.uuid4(), owner="dave", description="A word count CLI")
        project.options = {"language": "javascript", "stack": [], "constraints": []}
        session.add(project)
        await session.flush()
        await eventlog.append(session, project.id, "project.created", {})
        await session.commit()
        project_id = project.id
    with serve_app(app) as url:
        llm = LLMProvider(f"{url}/v1", "node-writer", api_key=KEY)
        status = await run_project(gen_db, embedder, project_id, llm=llm)
    events = await events_of(gen_db, project_id)
    gates: dict[str, Any] = {
        e.payload["gate"]: e.payload for e in events if e.type == "gate.result"
    }
    assert status == "succeeded", gates
    assert calls["node-writer"] == 4
    assert all("node:test" in b["messages"][0]["content"] for b in bodies)
    files = {e.payload["path"]: e.payload["content"] for e in events if e.type == "file.written"}
    assert files["wordcount.js"] == CODE["wordcount.js"] and "package.json" in files
    # The model's test and the generated load test of both modules.
    assert gates["tests"]["metrics"]["tests"] == 3
