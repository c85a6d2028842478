"""The workspace export extension inside a real Jupyter server process, set up as the local
spawner sets up a user's server: its config files enable the platform's extensions under their
installed name (``datazentr_extensions``), found on the PYTHONPATH it gives."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.core.config import Settings
from hub.spawners import extension_config_dir, extension_package_dir
from tests.support.jupyter_scopes import ScopedAuthorizer, scope
from tests.support.network import free_port

TOKEN = "export-test-token-0123456789abcdef"
REPOSITORY = Path(__file__).resolve().parents[2]
READ_CONTENTS = scope("read", "contents")
SERVER_START_TIMEOUT = 120


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    (root / "project").mkdir()
    (root / "project" / "main.py").write_text("print('hello')\n")
    (root / "notes.md").write_text("# notes\n")
    (root / ".cache").mkdir()
    (root / ".cache" / "big.bin").write_bytes(b"\0" * 1024)
    (root / "project" / "__pycache__").mkdir()
    (root / "project" / "__pycache__" / "main.pyc").write_bytes(b"x")
    return root


@pytest.fixture(scope="module")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"))


@contextmanager
def jupyter_server(workspace: Path, settings: Settings, scopes: Iterable[str]) -> Iterator[str]:
    """A server process whose token holds ``scopes`` (JupyterHub's granular permissions)."""
    port = free_port()
    authorizer = f"{ScopedAuthorizer.__module__}.{ScopedAuthorizer.__name__}"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_PATH": str(extension_config_dir(settings)),
        "PYTHONPATH": os.pathsep.join([str(extension_package_dir(settings)), str(REPOSITORY)]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={TOKEN}",
            f"--ServerApp.root_dir={workspace}",
            f"--ServerApp.authorizer_class={authorizer}",
            *(f"--ScopedAuthorizer.scopes={granted}" for granted in sorted(scopes)),
        ],
        env=env,
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while True:
            try:
                httpx.get(f"{url}/api/status")  # any answer (this token may not read it)
                break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(workspace: Path, local_settings: Settings) -> Iterator[str]:
    """The token holds exactly the scope the export needs."""
    with jupyter_server(workspace, local_settings, [READ_CONTENTS]) as url:
        yield url


def export(server: str) -> httpx.Response:
    return httpx.get(
        f"{server}/datazentr/export", headers={"Authorization": f"token {TOKEN}"}, timeout=60
    )


def test_export_streams_the_workspace_as_tar_gz(server: str) -> None:
    response = export(server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    assert "attachment" in response.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        names = set(archive.getnames())
        main = archive.extractfile("workspace/project/main.py")
        assert main is not None
        assert main.read() == b"print('hello')\n"
    assert "workspace/notes.md" in names
    assert not any(".cache" in name or "__pycache__" in name for name in names)


def test_export_needs_the_users_token(server: str) -> None:
    refused = httpx.get(f"{server}/datazentr/export", follow_redirects=False)
    assert refused.status_code in (302, 401, 403)
    assert not refused.content.startswith(b"\x1f\x8b")  # no archive without a token


def test_a_token_without_read_on_contents_is_refused(
    workspace: Path, local_settings: Settings
) -> None:
    # Everything else: writing and running anything, reading the server's other resources.
    others = {scope("write", "*"), scope("execute", "*")}
    others |= {scope("read", r) for r in ("api", "kernels", "sessions", "assistant:status")}
    with jupyter_server(workspace, local_settings, others) as url:
        refused = export(url)
    assert refused.status_code == 403
    assert not refused.content.startswith(b"\x1f\x8b")  # no archive
