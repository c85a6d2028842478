"""The assistant's model path against a local OpenAI-compatible server: streaming, retries,
failover to the offline engine, and tokens recorded per user."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import nbformat
import pytest

from tests.support.api import ApiFactory
from tests.support.asgi import serve_app
from tests.support.assistant import answer_text, ndjson
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.identity import as_user, fresh_user
from tests.support.network import free_port

NOTEBOOK_JSON = json.dumps(
    {
        "title": "Monthly sales",
        "cells": [
            {"type": "markdown", "source": "# Monthly sales"},
            {"type": "code", "source": "import pandas as pd"},
        ],
    }
)


def scripts() -> dict[str, Any]:
    return {
        "chat": lambda body: ["Use ", "`pd.read_csv`", " and then ", "`groupby`."],
        "complete": lambda body: ["```python\n", "return a + b\n", "```"],
        "notebook": lambda body: [NOTEBOOK_JSON[:40], NOTEBOOK_JSON[40:]],
        "notebook-broken": lambda body: ["this is not JSON"],
    }


@pytest.fixture(scope="module")
def model_server() -> Iterator[tuple[str, Counter[str], list[dict[str, Any]]]]:
    app, calls, bodies = fake_openai_app(scripts=scripts())
    with serve_app(app) as url:
        yield f"{url}/v1", calls, bodies


def model_settings(url: str, model: str) -> dict[str, Any]:
    return {"llm_base_url": url, "llm_model": model, "llm_api_key": KEY}


async def chat(api: httpx.AsyncClient, user: str, **body: Any) -> list[dict[str, Any]]:
    response = await api.post("/assistant/chat", json=body, headers=as_user(user))
    assert response.status_code == 200, response.text
    return ndjson(response.text)


async def test_the_model_answer_streams_and_its_tokens_are_recorded(
    api_factory: ApiFactory, model_server: Any
) -> None:
    url, _, bodies = model_server
    user, other = fresh_user(), fresh_user()
    async with api_factory(**model_settings(url, "chat")) as api:
        status = (await api.get("/assistant/status", headers=as_user(user))).json()
        assert status["engine"] == "model" and status["model"] == "chat"
        assert status["model_reachable"] is True

        events = await chat(
            api,
            user,
            message="How do I load this file?",
            context={"path": "a.ipynb", "notebook": "df = load('sales.csv')", "selection": "df"},
        )
        assert [e["type"] for e in events] == ["start"] + ["delta"] * 4 + ["done"]
        assert events[0]["engine"] == "model" and events[0]["model"] == "chat"
        assert [e["text"] for e in events[1:5]] == [
            "Use ",
            "`pd.read_csv`",
            " and then ",
            "`groupby`.",
        ]
        assert events[-1] == {
            "type": "done",
            "engine": "model",
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        }
        sent = bodies[-1]
        assert sent["stream"] is True
        prompt = sent["messages"][-1]["content"]
        assert "df = load('sales.csv')" in prompt and "How do I load this file?" in prompt

        # The second turn carries the first exchange as history.
        conversation_id = events[0]["conversation_id"]
        await chat(api, user, message="And then?", conversation_id=conversation_id)
        roles = [m["role"] for m in bodies[-1]["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert bodies[-1]["messages"][2]["content"] == "Use `pd.read_csv` and then `groupby`."

        stored = (
            await api.get(f"/assistant/conversations/{conversation_id}", headers=as_user(user))
        ).json()["messages"]
        assert [(m["engine"], m["model"]) for m in stored if m["role"] == "assistant"] == [
            ("model", "chat"),
            ("model", "chat"),
        ]
        mine = (await api.get("/assistant/status", headers=as_user(user))).json()
        assert (mine["requests_used_today"], mine["prompt_tokens_today"]) == (2, 24)
        assert mine["completion_tokens_today"] == 6
        theirs = (await api.get("/assistant/status", headers=as_user(other))).json()
        assert (theirs["requests_used_today"], theirs["prompt_tokens_today"]) == (0, 0)


async def test_a_429_is_retried_and_the_model_still_answers(
    api_factory: ApiFactory, model_server: Any
) -> None:
    url, calls, _ = model_server
    async with api_factory(**model_settings(url, "flaky-429")) as api:
        events = await chat(api, fresh_user(), message="hello")
    assert calls["flaky-429"] == 2
    assert events[-1]["type"] == "done" and events[-1]["engine"] == "model"
    assert answer_text(events) == "Hello world"


async def test_a_failing_model_hands_over_to_the_offline_engine(
    api_factory: ApiFactory, model_server: Any
) -> None:
    url, calls, _ = model_server
    async with api_factory(**model_settings(url, "always-500")) as api:
        events = await chat(api, fresh_user(), message="How do I hash a password?")
    assert calls["always-500"] == 3  # the first try and two retries
    types = [e["type"] for e in events]
    assert types[:2] == ["start", "notice"] and types[-1] == "done"
    assert events[1]["message"] == "The model endpoint is unreachable; the offline engine answers."
    assert events[-1]["engine"] == "offline"
    text = answer_text(events)
    assert text.startswith("**Offline answer** (the model endpoint could not be used)")
    assert "scrypt" in text.lower() or "password" in text.lower()


async def test_an_unreachable_endpoint_is_reported_and_offline_answers(
    api_factory: ApiFactory,
) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    user = fresh_user()
    async with api_factory(**model_settings(down, "chat")) as api:
        status = (await api.get("/assistant/status", headers=as_user(user))).json()
        assert status["engine"] == "model" and status["model_reachable"] is False
        events = await chat(api, user, message="Parse command line arguments")
        assert events[1]["type"] == "notice" and events[-1]["engine"] == "offline"
        assert "argparse" in answer_text(events)
        completion = await api.post(
            "/assistant/complete",
            json={"prefix": "def f(", "language": "python"},
            headers=as_user(user),
        )
        assert completion.json() == {"items": [], "engine": "offline"}
        notebook = await api.post(
            "/assistant/notebook", json={"description": "a CLI"}, headers=as_user(user)
        )
        assert notebook.json()["engine"] == "offline"


async def test_model_completion_is_short_and_without_fences(
    api_factory: ApiFactory, model_server: Any
) -> None:
    url, _, bodies = model_server
    user = fresh_user()
    async with api_factory(**model_settings(url, "complete")) as api:
        response = await api.post(
            "/assistant/complete",
            json={"prefix": "def add(a, b):\n    ", "suffix": "\n", "language": "python"},
            headers=as_user(user),
        )
        assert response.status_code == 200
        assert response.json() == {"items": [{"insertText": "return a + b"}], "engine": "model"}
        assert bodies[-1]["max_tokens"] == 64
        assert "def add(a, b):\n    <CURSOR>\n" in bodies[-1]["messages"][-1]["content"]
        status = (await api.get("/assistant/status", headers=as_user(user))).json()
        assert status["requests_used_today"] == 1 and status["prompt_tokens_today"] == 12


@pytest.mark.parametrize(
    ("model", "engine"), [("notebook", "model"), ("notebook-broken", "offline")]
)
async def test_model_notebook_or_offline_when_the_reply_is_unusable(
    api_factory: ApiFactory, model_server: Any, model: str, engine: str
) -> None:
    url, _, _ = model_server
    async with api_factory(**model_settings(url, model)) as api:
        response = await api.post(
            "/assistant/notebook",
            json={"description": "monthly sales with pandas"},
            headers=as_user(fresh_user()),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == engine
    nbformat.validate(nbformat.from_dict(body["notebook"]))  # type: ignore[no-untyped-call]
    if engine == "model":
        assert body["title"] == "Monthly sales"
        assert [c["source"] for c in body["notebook"]["cells"]] == [
            "# Monthly sales",
            "import pandas as pd",
        ]


async def test_a_failing_completion_is_not_retried_and_answers_offline(
    api_factory: ApiFactory, model_server: Any
) -> None:
    url, calls, _ = model_server
    before = calls["always-500"]
    async with api_factory(**model_settings(url, "always-500")) as api:
        response = await api.post(
            "/assistant/complete",
            json={"prefix": "import os\n# write a file atomically\n", "language": "python"},
            headers=as_user(fresh_user()),
        )
    assert calls["always-500"] == before + 1
    body = response.json()
    assert body["engine"] == "offline" and "os.replace" in body["items"][0]["insertText"]
