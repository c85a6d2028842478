"""The assistant server extension in a Jupyter server (pytest-jupyter), against the real
platform api on loopback (real Postgres; the model is the local OpenAI-compatible fake)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
import pytest_asyncio

# pytest-jupyter's fixtures for this module only (as a plugin its autouse fixtures, which
# close the event loop after each test, would apply to the whole test session).
from pytest_jupyter.jupyter_server import *  # noqa: F403
from tornado.httpclient import HTTPClientError
from tornado.websocket import WebSocketClientConnection

from api.core.config import Settings
from api.main import create_app
from api.patterns.embedder import Embedder
from hub.spawners import labextension_data_path
from tests.support.api import PREFIX
from tests.support.asgi import serve_app
from tests.support.database import seeded_database
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.identity import AnyUserIdentity
from tests.support.jupyter_scopes import ACTIONS, ScopedAuthorizer, scope
from tests.support.network import free_port

Fetch = Any
MODEL = "coder-slowly"  # the fake model sends its parts 0.2 s apart
CHAT_PARTS = ["Use ", "pandas", ".read", "_csv", "."]
COMPLETION = "_from_model()"
# Generous: jedi's first completion on a loaded 2-core machine can take seconds.
REPLY_TIMEOUT = 120


def model_reply(body: dict[str, Any]) -> list[str]:
    """A chat gets its answer in parts; an inline completion request gets the code."""
    asked = body["messages"][-1]["content"]
    return [COMPLETION] if "def load():" in asked else CHAT_PARTS


@dataclass
class Api:
    """The api the extension talks to, and what its model was asked."""

    url: str
    model_bodies: list[dict[str, Any]]
    user: str

    def client(self, user: str | None = None) -> httpx.AsyncClient:
        token = f"user:{user or self.user}"
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"token {token}"})


@pytest_asyncio.fixture(loop_scope="session")  # type: ignore[no-redef]  # replaces pytest-jupyter's
async def jp_asyncio_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """The test session's loop for the Jupyter server too (pytest-jupyter's own loop would be
    closed after each test, under pytest-asyncio's session loop)."""
    yield asyncio.get_running_loop()


@pytest.fixture(scope="module")
def platform_apis(
    pg_settings: Settings, embedder: Embedder
) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """Two real apps on one seeded database: without a model, and with one."""
    database_url = seeded_database(pg_settings, "assistant_extension", embedder)
    model_app, _, bodies = fake_openai_app(scripts={MODEL: model_reply})

    def settings(**model: Any) -> Settings:
        return Settings(
            _env_file=None, data_dir=pg_settings.data_dir, database_url=database_url, **model
        )

    with serve_app(model_app) as model_url:
        with_model = settings(llm_base_url=f"{model_url}/v1", llm_model=MODEL, llm_api_key=KEY)
        offline_app = create_app(settings(), identity=AnyUserIdentity())
        model_api = create_app(with_model, identity=AnyUserIdentity())
        with (
            serve_app(offline_app, lifespan=True) as offline_url,
            serve_app(model_api, lifespan=True) as model_api_url,
        ):
            yield f"{offline_url}{PREFIX}", f"{model_api_url}{PREFIX}", bodies


def point_at(monkeypatch: pytest.MonkeyPatch, url: str, bodies: list[dict[str, Any]]) -> Api:
    """What the spawner hands a user server: the api's URL and the user's own token."""
    api = Api(url, bodies, f"ext-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("DATAZENTR_API_URL", url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", f"user:{api.user}")
    return api


@pytest.fixture
def api(
    platform_apis: tuple[str, str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> Api:
    """The api without a model."""
    offline_url, _, bodies = platform_apis
    return point_at(monkeypatch, offline_url, bodies)


@pytest.fixture
def model_api(
    platform_apis: tuple[str, str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> Api:
    """The api with the operator's model configured."""
    _, model_url, bodies = platform_apis
    return point_at(monkeypatch, model_url, bodies)


@pytest.fixture  # type: ignore[no-redef]  # replaces the star-imported pytest-jupyter fixture
def jp_server_config() -> dict[str, Any]:
    return {
        "ServerApp": {
            "jpserver_extensions": {"extensions.assistant": True},
            # JupyterHub's granular permissions; the token holds every scope unless a test
            # says otherwise.
            "authorizer_class": ScopedAuthorizer,
        },
        # The model's completion wins however slow this machine is today (a completion
        # slower than this is answered by jedi: not what these tests are about).
        "AssistantApp": {"completion_timeout": float(REPLY_TIMEOUT)},
    }


def body(response: Any) -> Any:
    return json.loads(response.body.decode())


async def test_status_relays_the_api(model_api: Api, jp_fetch: Fetch) -> None:
    status = body(await jp_fetch("datazentr", "assistant", "status", params={"fresh": "1"}))
    assert status["engine"] == "model"
    assert status["model"] == MODEL
    assert status["api_reachable"] is True


async def test_chat_streams_as_the_api_sends(model_api: Api, jp_fetch: Fetch) -> None:
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
    assert [e["type"] for e in events] == ["start"] + ["delta"] * len(CHAT_PARTS) + ["done"]
    assert "".join(e["text"] for e in events if e["type"] == "delta") == "Use pandas.read_csv."
    # Relayed as produced: the first words arrive well before the last (0.2 s apart).
    first_delta = next(t for t, c in arrivals if b'"delta"' in c)
    assert arrivals[-1][0] - first_delta > 0.5
    # The api got the question with its context, as this user.
    prompt = model_api.model_bodies[-1]["messages"][-1]["content"]
    assert "How do I read a CSV?" in prompt and "a.ipynb" in prompt
    async with model_api.client() as own:
        (conversation,) = (await own.get("assistant/conversations")).json()["conversations"]
        assert conversation["message_count"] == 2


async def test_oversized_prompt_is_refused_with_a_message(api: Api, jp_fetch: Fetch) -> None:
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
    async with api.client() as own:  # nothing reached the api
        assert (await own.get("assistant/conversations")).json()["conversations"] == []


async def test_bad_bodies_are_answered_with_what_is_wrong(api: Api, jp_fetch: Fetch) -> None:
    cases = [
        ("chat", b"{not json", 400, "invalid_json"),
        ("chat", b"[1, 2]", 400, "invalid_body"),
        ("chat", b"", 400, "invalid_body"),
        ("chat", b'{"message": 42}', 422, "empty_message"),
        ("chat", b'{"message": "   "}', 422, "empty_message"),
        ("notebook", b'{"description": "plot sales", "path": 3}', 422, "invalid_path"),
        ("notebook", b'{"description": "' + b"x" * 5_001 + b'"}', 413, "description_too_long"),
    ]
    for endpoint, raw, status, code in cases:
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch("datazentr", "assistant", endpoint, method="POST", body=raw)
        error = json.loads(refused.value.response.body)["error"]  # type: ignore[union-attr]
        assert (refused.value.code, error["status"], error["code"]) == (status, status, code), raw
        assert error["message"]
    async with api.client() as own:  # nothing reached the api
        assert (await own.get("assistant/conversations")).json()["conversations"] == []


async def test_another_users_conversation_is_not_found(api: Api, jp_fetch: Fetch) -> None:
    await jp_fetch(
        "datazentr", "assistant", "chat", method="POST", body=json.dumps({"message": "csv"})
    )
    async with api.client(user=f"other-{api.user}") as other:
        theirs = await other.post("assistant/chat", json={"message": "hello"})
        assert theirs.status_code == 200
        other_conversation = json.loads(theirs.text.splitlines()[0])["conversation_id"]
    listing = body(await jp_fetch("datazentr", "assistant", "conversations"))
    (own,) = [c["id"] for c in listing["conversations"]]
    assert body(await jp_fetch("datazentr", "assistant", "conversations", own))["id"] == own
    for conversation in (other_conversation, "not-an-id"):
        with pytest.raises(HTTPClientError) as missing:
            await jp_fetch("datazentr", "assistant", "conversations", conversation)
        assert missing.value.code == 404


@pytest.fixture
def dead_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAZENTR_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "user:nobody")


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
    api: Api, jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    (jp_root_dir / "work").mkdir()
    request = {"description": "Plot monthly sales from sales.csv", "path": "work"}
    response = await jp_fetch(
        "datazentr", "assistant", "notebook", method="POST", body=json.dumps(request)
    )
    assert response.code == 201
    result = body(response)
    assert result["engine"] == "offline" and result["title"]
    assert result["path"].startswith("work/") and result["path"].endswith(".ipynb")
    saved = nbformat.read(jp_root_dir / result["path"], as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(saved)
    assert any(cell.cell_type == "code" and cell.source for cell in saved.cells)
    again = body(
        await jp_fetch(
            "datazentr", "assistant", "notebook", method="POST", body=json.dumps(request)
        )
    )
    assert again["path"] == result["path"].removesuffix(".ipynb") + "-1.ipynb"


async def ask(ws: WebSocketClientConnection, **request: Any) -> dict[str, Any]:
    await ws.write_message(json.dumps(request))
    reply = await asyncio.wait_for(ws.read_message(), REPLY_TIMEOUT)
    assert isinstance(reply, str)
    return dict(json.loads(reply))


async def test_inline_completion_offline_uses_jedi(api: Api, jp_ws_fetch: Fetch) -> None:
    asked_before = len(api.model_bodies)
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
    chunk = json.loads(await asyncio.wait_for(ws.read_message(), REPLY_TIMEOUT))
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
    assert len(api.model_bodies) == asked_before  # offline: no model was asked


async def test_inline_completion_with_a_model_asks_the_api(
    model_api: Api, jp_ws_fetch: Fetch, jp_fetch: Fetch
) -> None:
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
    assert reply["list"]["items"] == [{"insertText": COMPLETION}]
    assert reply["engine"] == MODEL
    prompt = model_api.model_bodies[-1]["messages"][-1]["content"]
    assert "def load():\n    return" in prompt
    ws.close()


async def test_unauthenticated_requests_are_refused(
    api: Api, jp_fetch: Fetch, jp_ws_fetch: Fetch
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
    async with api.client() as own:  # nothing reached the api
        assert (await own.get("assistant/conversations")).json()["conversations"] == []


# Every REST handler, a request it answers cheaply once allowed, that answer's status, and
# the scopes it needs (README: "Permissions").
NOT_AN_ID = "0" * 32
HANDLERS: list[tuple[str, tuple[str, ...], dict[str, Any] | None, int, set[str]]] = [
    ("GET", ("assistant", "status"), None, 200, {scope("read", "assistant:status")}),
    ("GET", ("session", "usage"), None, 200, {scope("read", "assistant:usage")}),
    ("GET", ("branding",), None, 200, {scope("read", "assistant:branding")}),
    ("POST", ("assistant", "chat"), {"message": " "}, 422, {scope("write", "assistant:chat")}),
    ("GET", ("assistant", "conversations"), None, 200, {scope("read", "assistant:chat")}),
    (
        "GET",
        ("assistant", "conversations", NOT_AN_ID),
        None,
        404,
        {scope("read", "assistant:chat")},
    ),
    (
        "DELETE",
        ("assistant", "conversations", NOT_AN_ID),
        None,
        404,
        {scope("write", "assistant:chat")},
    ),
    (
        "POST",
        ("assistant", "notebook"),
        {"description": " "},
        422,
        {scope("write", "assistant:notebook"), scope("write", "contents")},
    ),
]
# A token with every action on these resources (the ones the handlers here check) but one.
RESOURCES = ["assistant:status", "assistant:usage", "assistant:chat", "assistant:notebook"]
RESOURCES += ["assistant:branding"]
RESOURCES += ["assistant:completion", "contents"]
ALL_SCOPES = {scope(action, resource) for action in ACTIONS for resource in RESOURCES}


async def status_of(jp_fetch: Fetch, method: str, parts: tuple[str, ...], payload: Any) -> int:
    try:
        response = await jp_fetch(
            "datazentr",
            *parts,
            method=method,
            body=None if payload is None else json.dumps(payload),
        )
    except HTTPClientError as refused:
        if refused.code == 403:
            error = json.loads(refused.response.body)["error"]  # type: ignore[union-attr]
            assert error["status"] == 403 and error["code"] == "forbidden"
        return refused.code
    return int(response.code)


@pytest.mark.parametrize(
    ("method", "parts", "payload", "allowed", "needs"),
    HANDLERS,
    ids=[f"{method} {'/'.join(parts)}" for method, parts, *_ in HANDLERS],
)
async def test_a_token_without_a_needed_scope_is_refused(
    api: Api,
    jp_fetch: Fetch,
    jp_serverapp: Any,
    method: str,
    parts: tuple[str, ...],
    payload: Any,
    allowed: int,
    needs: set[str],
) -> None:
    authorizer = jp_serverapp.authorizer
    for missing in sorted(needs):
        authorizer.scopes = ALL_SCOPES - {missing}
        assert await status_of(jp_fetch, method, parts, payload) == 403, missing
    authorizer.scopes = set(needs)  # exactly these: the handler answers
    assert await status_of(jp_fetch, method, parts, payload) == allowed


async def test_inline_completion_needs_its_scope(
    api: Api, jp_ws_fetch: Fetch, jp_serverapp: Any
) -> None:
    needed = scope("execute", "assistant:completion")
    jp_serverapp.authorizer.scopes = ALL_SCOPES - {needed}
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("api", "ai", "completion", "inline")
    assert refused.value.code == 403
    jp_serverapp.authorizer.scopes = {needed}
    ws = await jp_ws_fetch("api", "ai", "completion", "inline")
    reply = await ask(ws, number=1, prefix="import os\nos.path.jo", language="python")
    assert reply["list"]["items"][0] == {"insertText": "in"}
    ws.close()


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
