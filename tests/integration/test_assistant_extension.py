"""The assistant server extension in a Jupyter server (pytest-jupyter), against a stand-in
of the platform api's assistant endpoints on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

# pytest-jupyter's fixtures for this module only (as a plugin its autouse fixtures, which
# close the event loop after each test, would apply to the whole test session).
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from hub.spawners import labextension_data_path
from tests.fake_openai import serve_app
from tests.helpers import free_port
from tests.integration.assistant_standin import (
    OTHER_USERS_CONVERSATION,
    TOKEN,
    StandInState,
    standin_api,
)

Fetch = Any


@pytest_asyncio.fixture(loop_scope="session")
async def jp_asyncio_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """The test session's loop for the Jupyter server too (pytest-jupyter's own loop would be
    closed after each test, under pytest-asyncio's session loop)."""
    yield asyncio.get_running_loop()


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, StandInState]]:
    state = StandInState()
    with serve_app(standin_api(state)) as url:
        yield url, state


@pytest.fixture
def api(standin: tuple[str, StandInState], monkeypatch: pytest.MonkeyPatch) -> StandInState:
    url, state = standin
    state.engine, state.model, state.delay = "offline", None, 0.3
    state.chats.clear()
    state.completions.clear()
    monkeypatch.setenv("DATAZENTR_API_URL", url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    return state


@pytest.fixture
def jp_server_config(api: StandInState) -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"extensions.assistant": True}}}


def body(response: Any) -> Any:
    return json.loads(response.body.decode())


async def test_status_relays_the_api(jp_fetch: Fetch, api: StandInState) -> None:
    api.engine, api.model = "model", "qwen-coder"
    status = body(await jp_fetch("datazentr", "assistant", "status", params={"fresh": "1"}))
    assert status["engine"] == "model"
    assert status["model"] == "qwen-coder"
    assert status["api_reachable"] is True


async def test_chat_streams_as_the_api_sends(jp_fetch: Fetch, api: StandInState) -> None:
    arrivals: list[tuple[float, bytes]] = []
    start = time.monotonic()
    request = {"message": "How do I read a CSV?", "context": {"path": "a.ipynb"}}
    response = await jp_fetch(
        "datazentr",
        "assistant",
        "chat",
        method="POST",
        body=json.dumps(request),
        streaming_callback=lambda chunk: arrivals.append((time.monotonic() - start, chunk)),
    )
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in b"".join(c for _, c in arrivals).splitlines()]
    assert [e["type"] for e in events] == ["start", "delta", "delta", "delta", "delta", "done"]
    assert "".join(e["text"] for e in events if e["type"] == "delta") == "Use pandas.read_csv."
    # Relayed as produced: the first words arrive well before the last (0.3 s apart at the api).
    first_delta = next(t for t, c in arrivals if b'"delta"' in c)
    assert arrivals[-1][0] - first_delta > 0.5
    assert api.chats == [request]


async def test_oversized_prompt_is_refused_with_a_message(
    jp_fetch: Fetch, api: StandInState
) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch(
            "datazentr",
            "assistant",
            "chat",
            method="POST",
            body=json.dumps({"message": "x" * 20_001}),
        )
    assert refused.value.code == 413
    error = json.loads(refused.value.response.body)["error"]  # type: ignore[union-attr]
    assert "20001 characters; the limit is 20000" in error["message"]
    assert api.chats == []


async def test_another_users_conversation_is_not_found(jp_fetch: Fetch, api: StandInState) -> None:
    listing = body(await jp_fetch("datazentr", "assistant", "conversations"))
    own = listing["conversations"][0]["id"]
    assert body(await jp_fetch("datazentr", "assistant", "conversations", own))["id"] == own
    for other in (OTHER_USERS_CONVERSATION, "not-an-id"):
        with pytest.raises(HTTPClientError) as missing:
            await jp_fetch("datazentr", "assistant", "conversations", other)
        assert missing.value.code == 404


@pytest.fixture
def dead_api(api: StandInState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAZENTR_API_URL", f"http://127.0.0.1:{free_port()}")


async def test_api_down_chat_says_so(dead_api: None, jp_fetch: Fetch) -> None:
    with pytest.raises(HTTPClientError) as down:
        await jp_fetch(
            "datazentr", "assistant", "chat", method="POST", body=json.dumps({"message": "hello"})
        )
    assert down.value.code == 503
    assert "cannot be reached" in json.loads(down.value.response.body)["error"]["message"]  # type: ignore[union-attr]
    status = body(await jp_fetch("datazentr", "assistant", "status", params={"fresh": "1"}))
    assert status["engine"] == "offline"
    assert status["api_reachable"] is False
    assert "offline engine" in status["message"]


async def test_notebook_from_description_is_saved(
    jp_fetch: Fetch, api: StandInState, jp_root_dir: Path
) -> None:
    (jp_root_dir / "work").mkdir()
    request = {"description": "Plot monthly sales from sales.csv", "path": "work"}
    response = await jp_fetch(
        "datazentr", "assistant", "notebook", method="POST", body=json.dumps(request)
    )
    assert response.code == 201
    result = body(response)
    assert result == {
        "path": "work/Sales-by-month.ipynb",
        "title": "Sales by month",
        "engine": "offline",
    }
    saved = json.loads((jp_root_dir / result["path"]).read_text())
    assert "".join(saved["cells"][1]["source"]) == "import pandas as pd"
    again = body(
        await jp_fetch(
            "datazentr", "assistant", "notebook", method="POST", body=json.dumps(request)
        )
    )
    assert again["path"] == "work/Sales-by-month-1.ipynb"


async def ask(ws: WebSocketClientConnection, **request: Any) -> dict[str, Any]:
    await ws.write_message(json.dumps(request))
    reply = await asyncio.wait_for(ws.read_message(), 10)
    assert isinstance(reply, str)
    return dict(json.loads(reply))


async def test_inline_completion_offline_uses_jedi(jp_ws_fetch: Fetch, api: StandInState) -> None:
    ws = await jp_ws_fetch("api", "ai", "completion", "inline")
    base = {
        "suffix": "",
        "mime": "text/x-ipython",
        "stream": False,
        "path": "a.ipynb",
        "language": "python",
        "cell_id": "c1",
    }
    reply = await ask(ws, number=7, prefix="import os\nos.path.jo", **base)
    assert reply["type"] == "inline_completion"
    assert reply["reply_to"] == 7
    assert reply["engine"] == "offline"
    assert reply["list"]["items"][0] == {"insertText": "in"}
    # Nothing typed: no ghost text rather than an arbitrary name.
    empty = await ask(ws, number=8, prefix="x = ", **base)
    assert empty["list"]["items"] == []
    streamed = await ask(ws, number=9, prefix="import json\njson.dum", **{**base, "stream": True})
    token = streamed["list"]["items"][0]["token"]
    chunk = json.loads(await asyncio.wait_for(ws.read_message(), 10))
    assert chunk == {
        "type": "stream",
        "reply_to": 9,
        "done": True,
        "response": {"insertText": "p", "token": token},  # json.dump, before dumps
    }
    bad = await ask(ws, number=10, prefix=123)
    assert bad["reply_to"] == 10
    assert bad["error"]["title"] == "prefix must be a string."
    ws.close()
    assert api.completions == []  # offline: the api is not asked


async def test_inline_completion_with_a_model_asks_the_api(
    jp_ws_fetch: Fetch, jp_fetch: Fetch, api: StandInState
) -> None:
    api.engine, api.model = "model", "qwen-coder"
    await jp_fetch("datazentr", "assistant", "status", params={"fresh": "1"})
    ws = await jp_ws_fetch("api", "ai", "completion", "inline")
    reply = await ask(
        ws,
        number=1,
        prefix="def load():\n    return",
        suffix="",
        mime="text/x-ipython",
        stream=False,
        path="a.py",
        language="python",
    )
    assert reply["list"]["items"] == [{"insertText": "_from_model()"}]
    assert reply["engine"] == "qwen-coder"
    assert api.completions == [
        {"prefix": "def load():\n    return", "suffix": "", "language": "python", "path": "a.py"}
    ]
    ws.close()


async def test_unauthenticated_requests_are_refused(
    jp_fetch: Fetch, jp_ws_fetch: Fetch, api: StandInState
) -> None:
    anonymous = {"Authorization": "token not-the-servers-token"}
    for method, parts, payload in [
        ("GET", ("status",), None),
        ("POST", ("chat",), json.dumps({"message": "hi"})),
        ("GET", ("conversations",), None),
        ("POST", ("notebook",), json.dumps({"description": "x"})),
    ]:
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch(
                "datazentr",
                "assistant",
                *parts,
                method=method,
                body=payload,
                headers=dict(anonymous),
            )
        assert refused.value.code == 403, parts
    with pytest.raises(HTTPClientError) as refused_ws:
        await jp_ws_fetch("api", "ai", "completion", "inline", headers=dict(anonymous))
    assert refused_ws.value.code == 403
    assert api.chats == []


def test_the_built_front_end_is_where_local_servers_look() -> None:
    """The committed build is complete and on the JUPYTER_PATH the local spawner sets."""
    found = [
        Path(entry) / "labextensions" / "@datazentr" / "assistant"
        for entry in labextension_data_path().split(os.pathsep)
    ]
    built = [path for path in found if (path / "package.json").is_file()]
    assert len(built) == 1, found
    package = json.loads((built[0] / "package.json").read_text())
    assert (built[0] / package["jupyterlab"]["_build"]["load"]).is_file()
