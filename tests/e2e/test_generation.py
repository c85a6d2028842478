"""Project generation through the running platform: the hub-managed worker takes the job
from the Postgres queue, the gates run in bubblewrap, the stream replays the log."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest

from tests.support.hub import Hub, HubUser

pytestmark = pytest.mark.slow


def test_a_description_becomes_a_tested_project(new_user: HubUser) -> None:
    token = new_user.new_token()
    with httpx.Client(
        base_url=f"{new_user.platform.url}/services/api",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    ) as client:
        created = client.post(
            "/projects",
            json={
                "description": "A command line tool with subcommands to manage a todo list",
                "options": {"stack": ["argparse"]},
            },
        )
        assert created.status_code == 202, created.text
        project_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = client.get(f"/projects/{project_id}").json()
            if body["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the worker did not finish the project:\n{new_user.platform.log_tail()}")
        assert body["status"] == "succeeded", body
        assert body["summary"]["engine"] == "offline"
        assert body["summary"]["gates"] == {"syntax": True, "tests": True, "security": True}

        stream = client.get(f"/projects/{project_id}/stream", params={"after": 2})
        events = [
            json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")
        ]
        assert events[0]["seq"] == 3 and events[-1]["type"] == "project.finished"
        assert [e["seq"] for e in events] == list(range(3, 3 + len(events)))

        download = client.get(f"/projects/{project_id}/download")
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            names = archive.namelist()
        assert any(name.endswith("README.md") for name in names)
        assert any("/tests/" in name for name in names)
    stranger = httpx.get(f"{new_user.platform.url}/services/api/projects/{project_id}", timeout=30)
    assert stranger.status_code == 401


def test_open_in_my_workspace_writes_the_files_into_my_server(new_user: HubUser) -> None:
    hub = Hub(new_user)
    api = hub.api
    created = api.post("/projects", json={"description": "A token bucket rate limiter library"})
    project_id = created.json()["id"]
    stopped = api.post(f"/projects/{project_id}/open-in-workspace", json={})
    assert stopped.status_code == 409 and "not running" in stopped.text
    assert hub.start().status_code in (201, 202)
    try:
        hub.wait_ready()
        deadline = time.monotonic() + 120
        while api.get(f"/projects/{project_id}").json()["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, new_user.platform.log_tail()
            time.sleep(0.5)
        opened = api.post(f"/projects/{project_id}/open-in-workspace", json={"folder": "limiter"})
        assert opened.status_code == 200, opened.text
        assert opened.json()["folder"] == "limiter" and opened.json()["files"] >= 4
        server = httpx.Client(
            base_url=f"{new_user.platform.url}/user/{new_user.name}",
            timeout=30,
            headers=hub.client.headers,
        )
        readme = server.get("/api/contents/limiter/README.md", params={"content": "1"})
        assert readme.status_code == 200 and "offline" in readme.json()["content"]
        server.close()
    finally:
        hub.stop()
