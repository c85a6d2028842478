"""Live stream replay (SSE and WebSocket) and the time machine over a finished project."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from api.core.config import Settings
from api.main import create_app
from tests.support.api import PREFIX
from tests.support.generation import Drain
from tests.support.identity import AnyUserIdentity, as_user


@pytest.fixture
async def finished(client: httpx.AsyncClient, drain: Drain) -> str:
    response = await client.post(
        "/projects",
        json={"description": "A library that slugifies titles", "options": {"stack": ["pytest"]}},
        headers=as_user("alice"),
    )
    project_id: str = response.json()["id"]
    await drain()
    status = (await client.get(f"/projects/{project_id}", headers=as_user("alice"))).json()
    assert status["status"] == "succeeded", status
    return project_id


async def all_events(client: httpx.AsyncClient, project_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/projects/{project_id}/events", headers=as_user("alice"))
    result: list[dict[str, Any]] = response.json()
    return result


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


async def test_sse_replays_exactly_what_was_missed(
    client: httpx.AsyncClient, finished: str
) -> None:
    everything = await all_events(client, finished)
    response = await client.get(f"/projects/{finished}/stream", headers=as_user("alice"))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert sse_events(response.text) == everything
    assert "id: 1\n" in response.text
    after = 5
    response = await client.get(
        f"/projects/{finished}/stream", params={"after": after}, headers=as_user("alice")
    )
    assert [e["seq"] for e in sse_events(response.text)] == [e["seq"] for e in everything[after:]]
    resumed = await client.get(
        f"/projects/{finished}/stream",
        headers=as_user("alice") | {"Last-Event-ID": str(len(everything) - 1)},
    )
    assert [e["seq"] for e in sse_events(resumed.text)] == [len(everything)]


async def test_websocket_sends_every_event_and_resumes_after_a_sequence_number(
    client: httpx.AsyncClient, finished: str, gen_settings: Settings
) -> None:
    everything = await all_events(client, finished)
    app = create_app(gen_settings, identity=AnyUserIdentity())
    url = f"{PREFIX}/ws/orchestration/{finished}"
    with TestClient(app) as http:
        with http.websocket_connect(url, headers=as_user("alice")) as ws:
            received = [ws.receive_json() for _ in everything]
        assert [e["seq"] for e in received] == list(range(1, len(everything) + 1))
        assert received[0]["type"] == "project.created"
        with http.websocket_connect(f"{url}?after=3", headers=as_user("alice")) as ws:
            first = ws.receive_json()
        assert first["seq"] == 4 and first == received[3]
        for headers, code in ((as_user("bob"), 4404), ({}, 4401)):
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                http.websocket_connect(url, headers=headers) as ws,
            ):
                ws.receive_json()
            assert closed.value.code == code


async def test_time_machine_rebuilds_diffs_and_restores(
    client: httpx.AsyncClient, finished: str
) -> None:
    user = as_user("alice")
    events = await all_events(client, finished)
    points = (await client.get(f"/projects/{finished}/points", headers=user)).json()
    assert [p["seq"] for p in points] == [e["seq"] for e in events]
    code_step = next(
        e for e in events if e["type"] == "step.completed" and e["step"] == "code_generator"
    )
    n = code_step["seq"]
    expected = {}
    for event in events[:n]:
        if event["type"] == "file.written":
            expected[event["payload"]["path"]] = event["payload"]["content"]
    at_n = (await client.get(f"/projects/{finished}/state", params={"seq": n}, headers=user)).json()
    assert at_n["seq"] == n and at_n["files"] == expected
    assert [d["step"] for d in at_n["decisions"]] == [
        "intent",
        "pattern_search",
        "architect",
        "code_generator",
    ]
    assert at_n["gates"] == {}
    by_time = await client.get(
        f"/projects/{finished}/state", params={"at": code_step["occurred_at"]}, headers=user
    )
    assert by_time.json()["files"] == expected

    now = (await client.get(f"/projects/{finished}/state", headers=user)).json()
    assert now["gates"]["tests"]["passed"] is True
    assert "README.md" in now["files"] and "README.md" not in expected
    diff = (await client.get(f"/projects/{finished}/diff", params={"from": n}, headers=user)).json()
    assert "README.md" in diff["added"] and diff["removed"] == []
    assert diff["gates"]["tests"] == {"from": None, "to": True}

    restored = await client.post(f"/projects/{finished}/restore", json={"seq": n}, headers=user)
    assert restored.status_code == 200, restored.text
    assert restored.json()["files"] == expected
    after = await all_events(client, finished)
    assert after[: len(events)] == events  # nothing deleted or changed
    assert after[len(events)]["type"] == "project.restored"
    # The state before the restore is still reachable.
    back = await client.get(
        f"/projects/{finished}/state", params={"seq": len(events)}, headers=user
    )
    assert back.json()["files"] == now["files"]

    download = await client.get(f"/projects/{finished}/download", headers=user)
    assert download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = {name.split("/", 1)[1] for name in archive.namelist()}
    assert names == set(expected)
    too_far = await client.post(f"/projects/{finished}/restore", json={"seq": 10_000}, headers=user)
    assert too_far.status_code == 409
