"""The patterns server extension (pytest-jupyter's ``jp_fetch``) against the real api
(uvicorn on loopback) and its real PostgreSQL, as the server's user would call it.

The tests are synchronous on pytest-jupyter's own event loop: the Jupyter server runs there,
the api runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - jp_fetch and the fixtures it needs
from tornado.httpclient import HTTPClientError, HTTPResponse

from api.core.config import Settings
from api.main import create_app
from api.patterns.embedder import Embedder
from hub.spawners import extension_package_dir
from tests.support.asgi import serve_app
from tests.support.database import seeded_database
from tests.support.identity import AnyUserIdentity
from tests.support.jupyter_scopes import ACTIONS, ScopedAuthorizer, scope
from tests.support.network import free_port

USER = "pat"
REPOSITORY = Path(__file__).resolve().parents[2]
IMAGE_KERNEL_CONFIG = REPOSITORY / "images" / "singleuser" / "ipython_kernel_config.json"


@pytest.fixture(scope="module")
def api_url(pg_settings: Settings, embedder: Embedder) -> Iterator[str]:
    """The api app with its lifespan, served by uvicorn on a loopback port."""
    url = seeded_database(pg_settings, "patterns_extension", embedder)
    settings = Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=url)
    app = create_app(settings, identity=AnyUserIdentity())
    with serve_app(app, lifespan=True) as base:
        yield f"{base}/services/api"


@pytest.fixture  # type: ignore[no-redef]  # replaces the star-imported pytest-jupyter fixture
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop of this test's own (pytest-asyncio keeps its session loop for the rest)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture  # type: ignore[no-redef]  # replaces the star-imported pytest-jupyter fixture
def jp_server_config(api_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # What the spawner hands every user server: the api's URL and the user's token.
    monkeypatch.setenv("DATAZENTR_API_URL", api_url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", f"user:{USER}")
    return {
        "ServerApp": {
            "jpserver_extensions": {"extensions.patterns": True},
            # JupyterHub's granular permissions; the token holds every scope unless a test
            # says otherwise.
            "authorizer_class": ScopedAuthorizer,
        }
    }


Fetch = Any


def call(loop: asyncio.AbstractEventLoop, request: Coroutine[Any, Any, HTTPResponse]) -> Any:
    response = loop.run_until_complete(request)
    return json.loads(response.body)


def refused(loop: asyncio.AbstractEventLoop, request: Coroutine[Any, Any, Any]) -> tuple[int, Any]:
    with pytest.raises(HTTPClientError) as caught:
        loop.run_until_complete(request)
    assert caught.value.response is not None
    return caught.value.code, json.loads(caught.value.response.body or b"null")


def search(jp_fetch: Fetch, loop: asyncio.AbstractEventLoop, query: str) -> dict[str, Any]:
    params = {"q": query, "limit": "3", "language": "python"}
    return call(loop, jp_fetch("datazentr", "patterns", "search", params=params))  # type: ignore[no-any-return]


def post(jp_fetch: Fetch, *parts: str, body: dict[str, Any]) -> Coroutine[Any, Any, Any]:
    return jp_fetch(*parts, method="POST", body=json.dumps(body))  # type: ignore[no-any-return]


def test_search_and_read_a_pattern(
    jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    found = search(jp_fetch, jp_asyncio_loop, "write a file atomically")
    best = found["results"][0]
    assert "atomic" in best["pattern"]["title"].lower()
    assert best["explanation"]["summary"].startswith("Found #")
    assert all(r["pattern"]["language"] == "python" for r in found["results"])

    pattern = call(jp_asyncio_loop, jp_fetch("datazentr", "patterns", best["pattern"]["id"]))
    assert pattern["id"] == best["pattern"]["id"] and "os.replace" in pattern["files"][0]["content"]

    missing = "00000000-0000-4000-8000-000000000000"
    status, body = refused(jp_asyncio_loop, jp_fetch("datazentr", "patterns", missing))
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = refused(jp_asyncio_loop, jp_fetch("datazentr", "patterns", "search"))
    assert status == 400 and "?q=" in body["error"]["message"]


def test_insert_into_a_notebook_and_report_that_it_worked(
    jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop, jp_root_dir: Path
) -> None:
    loop = jp_asyncio_loop
    atomic = search(jp_fetch, loop, "write a file atomically")["results"][0]["pattern"]
    retry = search(jp_fetch, loop, "retry decorator with exponential backoff")["results"][0][
        "pattern"
    ]

    first = call(
        loop,
        post(
            jp_fetch,
            "datazentr",
            "patterns",
            atomic["id"],
            "insert",
            body={"path": "analysis.ipynb"},
        ),
    )
    assert first["type"] == "notebook" and first["cell_index"] == 0 and first["use_id"]
    second = call(
        loop,
        post(
            jp_fetch,
            "datazentr",
            "patterns",
            retry["id"],
            "insert",
            body={"path": "analysis.ipynb", "cell_index": 0},
        ),
    )
    assert second["cell_index"] == 0 and second["title"] == retry["title"]

    notebook = nbformat.read(jp_root_dir / "analysis.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    assert [c["metadata"]["datazentr"]["pattern_id"] for c in notebook.cells] == [
        retry["id"],
        atomic["id"],
    ]
    assert "os.replace" in notebook.cells[1].source

    # The outcome of that use counts once; a vote is separate.
    outcome = call(
        loop,
        post(
            jp_fetch,
            "datazentr",
            "patterns",
            atomic["id"],
            "feedback",
            body={"worked": True, "use_id": first["use_id"]},
        ),
    )
    assert outcome["success_count"] == atomic["success_count"] + 1
    status, body = refused(
        loop,
        post(
            jp_fetch,
            "datazentr",
            "patterns",
            atomic["id"],
            "feedback",
            body={"worked": False, "use_id": first["use_id"]},
        ),
    )
    assert status == 409 and body["error"]["code"] == "conflict"
    vote = call(
        loop,
        post(jp_fetch, "datazentr", "patterns", retry["id"], "feedback", body={"worked": False}),
    )
    assert vote["pattern_id"] == retry["id"]
    status, body = refused(
        loop,
        post(jp_fetch, "datazentr", "patterns", retry["id"], "feedback", body={"worked": "yes"}),
    )
    assert status == 400


def test_insert_appends_to_a_file_and_refuses_bad_paths(
    jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop, jp_root_dir: Path
) -> None:
    loop = jp_asyncio_loop
    (jp_root_dir / "tools.py").write_text("import os")
    pattern = search(jp_fetch, loop, "slugify text for URLs")["results"][0]["pattern"]
    done = call(
        loop,
        post(jp_fetch, "datazentr", "patterns", pattern["id"], "insert", body={"path": "tools.py"}),
    )
    assert done == {
        "path": "tools.py",
        "type": "file",
        "cell_index": None,
        "use_id": done["use_id"],
        "pattern_id": pattern["id"],
        "title": pattern["title"],
    }
    text = (jp_root_dir / "tools.py").read_text()
    assert text.startswith("import os\n\n") and "def slugify" in text

    for body in ({}, {"path": ""}, {"path": "a.ipynb", "cell_index": -1}):
        status, answer = refused(
            loop, post(jp_fetch, "datazentr", "patterns", pattern["id"], "insert", body=body)
        )
        assert status == 400 and answer["error"]["code"] == "invalid_body", body
    status, _ = refused(
        loop,
        post(
            jp_fetch,
            "datazentr",
            "patterns",
            pattern["id"],
            "insert",
            body={"path": "../escape.py"},
        ),
    )
    assert status in (400, 403, 404)
    assert not (jp_root_dir.parent / "escape.py").exists()


def test_requests_without_the_users_token_are_refused(
    jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    status, _ = refused(
        jp_asyncio_loop,
        jp_fetch(
            "datazentr", "patterns", "search", params={"q": "x"}, headers={"Authorization": ""}
        ),
    )
    assert status == 403


@pytest.fixture
def dead_api(jp_server_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The server starts with an api URL where nothing listens."""
    monkeypatch.setenv("DATAZENTR_API_URL", f"http://127.0.0.1:{free_port()}/services/api")


@pytest.fixture
def no_api(jp_server_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The server starts without the hub's environment (no api URL)."""
    monkeypatch.delenv("DATAZENTR_API_URL")


def test_an_unreachable_api_is_said_plainly(
    dead_api: None, jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    status, body = refused(
        jp_asyncio_loop, jp_fetch("datazentr", "patterns", "search", params={"q": "csv"})
    )
    assert status == 503 and body["error"]["code"] == "api_unreachable"
    assert body["error"]["message"].startswith("The platform api cannot be reached (")


def test_a_server_not_started_by_the_hub_says_so(
    no_api: None, jp_fetch: Fetch, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    status, body = refused(
        jp_asyncio_loop, jp_fetch("datazentr", "patterns", "search", params={"q": "csv"})
    )
    assert status == 503 and body["error"]["code"] == "platform_not_configured"
    assert "not started by the DATAZENtr hub" in body["error"]["message"]


# Every REST handler, a request it answers cheaply once allowed, that answer's status, and
# the scopes it needs (README: "Permissions").
SOME_PATTERN = "00000000-0000-4000-8000-000000000000"
HANDLERS: list[tuple[str, tuple[str, ...], dict[str, Any] | None, int, set[str]]] = [
    ("GET", ("search",), None, 400, {scope("read", "patterns:library")}),
    ("GET", (SOME_PATTERN,), None, 404, {scope("read", "patterns:library")}),
    ("POST", (SOME_PATTERN, "feedback"), {}, 400, {scope("write", "patterns:library")}),
    (
        "POST",
        (SOME_PATTERN, "insert"),
        {},
        400,
        {scope("write", "patterns:library"), scope("write", "contents")},
    ),
]
ALL_SCOPES = {
    scope(action, resource) for action in ACTIONS for resource in ("patterns:library", "contents")
}


@pytest.mark.parametrize(
    ("method", "parts", "payload", "allowed", "needs"),
    HANDLERS,
    ids=[f"{method} {'/'.join(parts)}" for method, parts, *_ in HANDLERS],
)
def test_a_token_without_a_needed_scope_is_refused(
    jp_fetch: Fetch,
    jp_serverapp: Any,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
    method: str,
    parts: tuple[str, ...],
    payload: dict[str, Any] | None,
    allowed: int,
    needs: set[str],
) -> None:
    def status() -> int:
        body = None if payload is None else json.dumps(payload)
        code, answer = refused(
            jp_asyncio_loop, jp_fetch("datazentr", "patterns", *parts, method=method, body=body)
        )
        assert answer["error"]["status"] == code
        return code

    for missing in sorted(needs):
        jp_serverapp.authorizer.scopes = ALL_SCOPES - {missing}
        assert status() == 403, missing
    jp_serverapp.authorizer.scopes = set(needs)  # exactly these: the handler answers
    assert status() == allowed


@pytest.mark.slow
def test_magics_in_a_real_kernel_reach_the_api(api_url: str, tmp_path: Path) -> None:
    """A kernel configured like the image's (its ipython_kernel_config.json, loading
    ``datazentr_extensions.magics``) has the magics, and they reach the api as the user:
    %%assist streams, %patterns insert fills the next cell."""
    from jupyter_client.manager import KernelManager

    ipython_dir = tmp_path / "ipython"
    (ipython_dir / "profile_default").mkdir(parents=True)
    shutil.copy(IMAGE_KERNEL_CONFIG, ipython_dir / "profile_default" / "ipython_kernel_config.json")
    env = {
        **os.environ,
        "IPYTHONDIR": str(ipython_dir),
        # As local servers have it: the package by its installed name (hub.spawners).
        "PYTHONPATH": str(extension_package_dir(Settings(_env_file=None, data_dir=tmp_path))),
        "DATAZENTR_API_URL": api_url,
        "JUPYTERHUB_API_TOKEN": f"user:{USER}",
    }
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, cwd=str(tmp_path))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        streamed: list[str] = []

        def collect(message: dict[str, Any]) -> None:
            if message["header"]["msg_type"] == "stream":
                streamed.append(message["content"]["text"])

        reply = client.execute_interactive(
            "%%assist\nHow do I write a file atomically?", output_hook=collect, timeout=60
        )
        assert reply["content"]["status"] == "ok"
        answer = "".join(streamed)
        assert answer.startswith("**Offline answer**") and "os.replace" in answer
        assert len(streamed) > 3  # it arrived in pieces, not as one block

        pattern_id = answer.split("%patterns insert ")[1].split("`")[0]
        streamed.clear()
        reply = client.execute_interactive(
            f"%patterns insert {pattern_id}", output_hook=collect, timeout=60
        )
        [payload] = reply["content"]["payload"]
        assert payload["source"] == "set_next_input" and "os.replace" in payload["text"]
        assert "into the next cell" in "".join(streamed)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
