"""The assistant's endpoints without a model: the offline engine, storage, limits, privacy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import nbformat
import pytest

from api.assistant import chat as chat_service
from api.assistant import store
from api.auth import HubUser
from api.core.db import Database
from api.patterns.embedder import Embedder
from api.schemas.assistant import ChatIn
from tests.support.assistant import answer_text, ndjson
from tests.support.identity import as_user, fresh_user

NAME_ERROR_TRACEBACK = [
    "\x1b[0;31m--------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mNameError\x1b[0m                          Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[4], line 2\x1b[0m\n\x1b[1;32m      1\x1b[0m x = [1, 2]\n"
    "\x1b[0;32m----> 2\x1b[0m arr = np.array(x)\n",
    "\x1b[0;31mNameError\x1b[0m: name 'np' is not defined",
]


async def chat(
    api: httpx.AsyncClient, user: str, message: str, **body: object
) -> tuple[int, list[dict[str, Any]]]:
    response = await api.post(
        "/assistant/chat", json={"message": message, **body}, headers=as_user(user)
    )
    if response.status_code != 200:
        return response.status_code, [response.json()]
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return 200, ndjson(response.text)


async def test_status_says_offline_and_counts_nothing_yet(offline_api: httpx.AsyncClient) -> None:
    response = await offline_api.get("/assistant/status", headers=as_user(fresh_user()))
    assert response.status_code == 200
    assert response.json() == {
        "engine": "offline",
        "model": None,
        "model_reachable": None,
        "requests_used_today": 0,
        "requests_per_day": 100,  # the free plan
        "prompt_tokens_today": 0,
        "completion_tokens_today": 0,
    }


async def test_chat_streams_a_labelled_answer_from_the_library(
    offline_api: httpx.AsyncClient,
) -> None:
    user = fresh_user()
    status, events = await chat(
        offline_api, user, "How do I retry an HTTP request with exponential backoff?"
    )
    assert status == 200
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("delta") >= 5 and "error" not in kinds
    start, done = events[0], events[-1]
    assert start["engine"] == "offline" and start["model"] is None
    assert done == {
        "type": "done",
        "engine": "offline",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
    }
    text = answer_text(events)
    assert text.startswith("**Offline answer** (no model is configured on this platform)")
    assert "retr" in text.lower() and "```python" in text and "Why it matched" in text

    # Stored, as the caller's conversation, with the answer exactly as streamed.
    conversation = await offline_api.get(
        f"/assistant/conversations/{start['conversation_id']}", headers=as_user(user)
    )
    assert conversation.status_code == 200
    messages = conversation.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == text and messages[1]["engine"] == "offline"
    assert messages[1]["id"] == start["message_id"]
    used = await offline_api.get("/assistant/status", headers=as_user(user))
    assert used.json()["requests_used_today"] == 1


@pytest.mark.parametrize("action", ["explain_error", "fix_error"])
async def test_error_help_reads_the_traceback(offline_api: httpx.AsyncClient, action: str) -> None:
    context = {
        "path": "analysis.ipynb",
        "language": "python",
        "error": {
            "ename": "NameError",
            "evalue": "name 'np' is not defined",
            "traceback": NAME_ERROR_TRACEBACK,
        },
    }
    status, events = await chat(
        offline_api, fresh_user(), "Why does this fail?", action=action, context=context
    )
    assert status == 200
    text = answer_text(events)
    assert "**NameError**: name 'np' is not defined" in text
    assert "Cell In[4], line 2: `arr = np.array(x)`" in text
    assert "import numpy as np" in text
    if action == "fix_error":
        assert "Try this first:\n\n```python\nimport numpy as np\n```" in text


async def test_a_conversation_continues_and_is_listed_newest_first(
    offline_api: httpx.AsyncClient,
) -> None:
    user = fresh_user()
    _, first = await chat(offline_api, user, "Read a CSV file and aggregate a column")
    conversation_id = first[0]["conversation_id"]
    _, second = await chat(
        offline_api, user, "And write the result as JSON", conversation_id=conversation_id
    )
    assert second[0]["conversation_id"] == conversation_id
    _, other = await chat(offline_api, user, "Set up structured JSON logging")

    listing = await offline_api.get("/assistant/conversations", headers=as_user(user))
    rows = listing.json()["conversations"]
    assert [r["id"] for r in rows] == [other[0]["conversation_id"], conversation_id]
    assert [r["message_count"] for r in rows] == [2, 4]
    assert rows[1]["title"] == "Read a CSV file and aggregate a column"


async def test_nobody_sees_or_continues_another_users_conversation(
    offline_api: httpx.AsyncClient,
) -> None:
    owner, intruder = fresh_user("owner"), fresh_user("intruder")
    _, events = await chat(offline_api, owner, "my private question about pandas")
    conversation_id = events[0]["conversation_id"]
    path = f"/assistant/conversations/{conversation_id}"

    assert (await offline_api.get(path, headers=as_user(intruder))).status_code == 404
    assert (await offline_api.delete(path, headers=as_user(intruder))).status_code == 404
    status, body = await chat(offline_api, intruder, "hi", conversation_id=conversation_id)
    assert status == 404 and body[0]["error"]["code"] == "not_found"
    listing = await offline_api.get("/assistant/conversations", headers=as_user(intruder))
    assert listing.json() == {"conversations": []}
    # The refused continuation was not counted against the intruder.
    status_body = (await offline_api.get("/assistant/status", headers=as_user(intruder))).json()
    assert status_body["requests_used_today"] == 0
    # The owner's conversation is untouched; then the owner deletes it.
    owned = await offline_api.get(path, headers=as_user(owner))
    assert len(owned.json()["messages"]) == 2
    assert (await offline_api.delete(path, headers=as_user(owner))).status_code == 204
    assert (await offline_api.get(path, headers=as_user(owner))).status_code == 404


async def test_every_endpoint_needs_a_user(offline_api: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/assistant/status"),
        ("POST", "/assistant/chat"),
        ("GET", "/assistant/conversations"),
        ("POST", "/assistant/complete"),
        ("POST", "/assistant/notebook"),
    ]:
        response = await offline_api.request(method, path, json={"message": "hi"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "not_authenticated"


async def test_an_oversized_prompt_is_refused_with_what_to_do(
    offline_api: httpx.AsyncClient,
) -> None:
    user = fresh_user()
    status, body = await chat(offline_api, user, "x" * 20_001)
    assert status == 413
    error = body[0]["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"].startswith("The prompt is 20001 characters; the limit is 20000.")
    status, body = await chat(offline_api, user, "hi", context={"notebook": "y" * 60_001})
    assert status == 413 and "notebook excerpt is 60001 characters" in body[0]["error"]["message"]
    status, body = await chat(offline_api, user, "")
    assert status == 422
    counted = (await offline_api.get("/assistant/status", headers=as_user(user))).json()
    assert counted["requests_used_today"] == 0


async def test_the_plans_daily_limit_is_enforced(offline_api: httpx.AsyncClient) -> None:
    plan = {
        "name": "Tiny",
        "rank": 90,
        "cpu_limit": 1,
        "memory_limit_mb": 512,
        "idle_timeout_minutes": 10,
        "named_servers": 1,
        "storage_gb": 1,
        "assistant_requests_per_day": 2,
    }
    created = await offline_api.put(
        "/admin/plans/tiny-assistant", json=plan, headers=as_user("root")
    )
    assert created.status_code in (200, 201), created.text
    user = fresh_user("tiny")
    moved = await offline_api.put(
        f"/admin/users/{user}/plan", json={"plan_code": "tiny-assistant"}, headers=as_user("root")
    )
    assert moved.status_code == 200, moved.text

    for _ in range(2):
        status, _ = await chat(offline_api, user, "how do I slugify text")
        assert status == 200
    status, body = await chat(offline_api, user, "one more")
    assert status == 429
    error = body[0]["error"]
    assert error["code"] == "assistant_limit_reached"
    assert "allows 2 assistant requests a day" in error["message"]
    assert "00:00 UTC" in error["message"]
    notebook = await offline_api.post(
        "/assistant/notebook", json={"description": "plot data"}, headers=as_user(user)
    )
    assert notebook.status_code == 429
    state = (await offline_api.get("/assistant/status", headers=as_user(user))).json()
    assert (state["requests_used_today"], state["requests_per_day"]) == (2, 2)
    # Offline completion costs nothing and still works.
    completion = await offline_api.post(
        "/assistant/complete", json={"prefix": "x = 1", "language": "python"}, headers=as_user(user)
    )
    assert completion.status_code == 200 and completion.json()["engine"] == "offline"


async def test_offline_completion_answers_a_comment_with_a_pattern(
    offline_api: httpx.AsyncClient,
) -> None:
    user = fresh_user()
    asked = await offline_api.post(
        "/assistant/complete",
        json={
            "prefix": "import os\n# write a file atomically\n",
            "suffix": "",
            "language": "python",
        },
        headers=as_user(user),
    )
    assert asked.status_code == 200
    body = asked.json()
    assert body["engine"] == "offline" and len(body["items"]) == 1
    assert "os.replace" in body["items"][0]["insertText"]
    plain = await offline_api.post(
        "/assistant/complete",
        json={"prefix": "x = 1 + ", "language": "python"},
        headers=as_user(user),
    )
    assert plain.json() == {"items": [], "engine": "offline"}
    too_long = await offline_api.post(
        "/assistant/complete", json={"prefix": "a" * 20_001}, headers=as_user(user)
    )
    assert too_long.status_code == 413 and "prefix is 20001" in too_long.json()["error"]["message"]


async def test_offline_notebook_is_valid_and_built_from_patterns(
    offline_api: httpx.AsyncClient,
) -> None:
    user = fresh_user()
    response = await offline_api.post(
        "/assistant/notebook",
        json={"description": "Clean a CSV of sales data with pandas and aggregate by month"},
        headers=as_user(user),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "offline"
    assert body["title"] == "Clean a CSV of sales data with pandas and aggregate by month"
    notebook = nbformat.from_dict(body["notebook"])  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds[:2] == ["markdown", "markdown"] and kinds.count("code") >= 2
    assert "## Outline" in notebook["cells"][1]["source"]
    code = "\n".join(c["source"] for c in notebook["cells"] if c["cell_type"] == "code")
    assert "pandas" in code or "csv" in code
    for description, expected in (("", 422), ("d" * 5001, 413)):
        refused = await offline_api.post(
            "/assistant/notebook", json={"description": description}, headers=as_user(user)
        )
        assert refused.status_code == expected


async def test_requests_at_once_never_take_more_than_the_limit(
    offline_api: httpx.AsyncClient,
) -> None:
    plan = {
        "name": "Three",
        "rank": 91,
        "cpu_limit": 1,
        "memory_limit_mb": 512,
        "idle_timeout_minutes": 10,
        "named_servers": 1,
        "storage_gb": 1,
        "assistant_requests_per_day": 3,
    }
    assert (
        await offline_api.put("/admin/plans/three", json=plan, headers=as_user("root"))
    ).is_success
    user = fresh_user("burst")
    moved = await offline_api.put(
        f"/admin/users/{user}/plan", json={"plan_code": "three"}, headers=as_user("root")
    )
    assert moved.status_code == 200
    answers = await asyncio.gather(*(chat(offline_api, user, f"question {n}") for n in range(8)))
    assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 5
    state = (await offline_api.get("/assistant/status", headers=as_user(user))).json()
    assert state["requests_used_today"] == 3
    listing = await offline_api.get("/assistant/conversations", headers=as_user(user))
    assert len(listing.json()["conversations"]) == 3


async def test_an_answer_to_a_conversation_deleted_meanwhile_says_it_was_not_saved(
    assistant_url: str, embedder: Embedder
) -> None:
    database = Database(assistant_url)
    user = HubUser(name=fresh_user(), admin=False)
    request = ChatIn(message="How do I slugify text?")
    try:
        exchange = await chat_service.prepare(database, user, request)
        async with database.sessionmaker() as session:
            await store.delete_conversation(session, user, exchange.conversation_id)
        stream = chat_service.ChatStream(database, embedder, None, user, request, exchange)
        events = [json.loads(line) async for line in stream.lines()]
    finally:
        await database.dispose()
    assert events[0]["type"] == "start" and "slugify" in answer_text(events)
    assert events[-1] == {
        "type": "error",
        "code": "not_saved",
        "message": "The answer could not be saved to this conversation.",
    }
