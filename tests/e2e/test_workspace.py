"""A user's workspace through the hub: files persist across restarts and export as one archive."""

from __future__ import annotations

import io
import tarfile

import httpx
import pytest

from tests.support.hub import Hub
from tests.support.kernels import run_in_kernel

pytestmark = pytest.mark.slow


def test_files_survive_a_restart_and_export_as_an_archive(hub: Hub) -> None:
    name = hub.user.name
    server = httpx.Client(
        base_url=f"{hub.user.platform.url}/user/{name}", timeout=60, headers=hub.client.headers
    )
    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    saved = server.put(
        "/api/contents/keep.py", json={"type": "file", "format": "text", "content": "x = 42\n"}
    )
    assert saved.status_code in (200, 201), saved.text
    hub.stop()

    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    again = server.get("/api/contents/keep.py", params={"content": "1"})
    assert again.json()["content"] == "x = 42\n"

    archive = server.get("/datazentr/export")
    assert archive.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        member = tar.extractfile("workspace/keep.py")
        assert member is not None
        assert member.read() == b"x = 42\n"
    server.close()


def test_code_runs_in_the_python_kernel_over_the_websocket(hub: Hub) -> None:
    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    token = hub.client.headers["Authorization"].split()[1]
    url = f"{hub.user.platform.url}/user/{hub.user.name}"
    printed = run_in_kernel(url, token, "python3", "import sys; print(6 * 7, sys.version_info[0])")
    assert printed.strip() == "42 3"
