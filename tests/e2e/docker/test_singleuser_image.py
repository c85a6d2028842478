"""The single-user image on a real Docker engine: versions, kernels, extensions, user, server."""

from __future__ import annotations

import json
import re
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.artifacts import artifact_path
from tests.support.docker_engine import DockerEngine
from tests.support.network import free_port

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(engine: DockerEngine, image: str, command: list[str], **options: Any) -> str:
    """Run ``command`` in a throw-away container of ``image``; stdout and stderr, uncoloured."""
    output = engine.client.containers.run(
        image,
        command,
        remove=True,
        network_mode="host",
        stdout=True,
        stderr=True,
        **options,
    )
    return ANSI.sub("", output.decode())


def enabled_lines(listing: str) -> set[str]:
    """Names listed as enabled by `jupyter server extension list` / `labextension list`."""
    names = set()
    for line in listing.splitlines():
        words = line.split()  # "name enabled" or "name vX.Y.Z enabled OK (...)"
        if "enabled" in words[1:3]:
            names.add(words[0])
    return names


def test_singleuser_server_matches_the_hubs_jupyterhub(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    output = run(docker_engine, singleuser_image, ["jupyterhub-singleuser", "--version"])
    assert output.strip().splitlines()[-1] == version("jupyterhub")


def test_python_and_bash_kernels_are_the_projects_specs(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    listing = json.loads(
        run(docker_engine, singleuser_image, ["jupyter", "kernelspec", "list", "--json"])
    )["kernelspecs"]
    assert set(listing) == {"python3", "bash"}
    for name, entry in listing.items():
        assert entry["resource_dir"] == f"/usr/local/share/jupyter/kernels/{name}"
        ours = json.loads((PROJECT_ROOT / "kernels" / name / "kernel.json").read_text())
        assert entry["spec"]["argv"] == ours["argv"]
        assert entry["spec"]["display_name"] == ours["display_name"]
    # The modules the specs start are importable by the server's Python.
    run(docker_engine, singleuser_image, ["python", "-c", "import ipykernel_launcher, bash_kernel"])


def test_server_and_lab_extensions_are_enabled(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    server = enabled_lines(
        run(docker_engine, singleuser_image, ["jupyter", "server", "extension", "list"])
    )
    assert {
        "jupyterlab",
        "jupyterlab_git",
        "jupyter_server_ydoc",
        "jupyter_resource_usage",
        "jupyter_lsp",
    } <= server, server
    # Every extension of the project's extensions/ package that ships a server config.
    for config in PROJECT_ROOT.glob("extensions/*/jupyter-config/server-config/*.json"):
        wanted = json.loads(config.read_text())["ServerApp"]["jpserver_extensions"]
        assert {name for name, on in wanted.items() if on} <= server, config

    lab = enabled_lines(run(docker_engine, singleuser_image, ["jupyter", "labextension", "list"]))
    assert {
        "@jupyterlab/git",
        "@jupyter/collaboration-extension",
        "@jupyter-server/resource-usage",
        "@jupyter-lsp/jupyterlab-lsp",
        "@datazentr/assistant",
    } <= lab, lab


def test_the_platforms_package_leaves_the_name_extensions_to_users(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    """Installed as ``datazentr_extensions``: nothing called ``extensions`` is importable,
    and a user's own ``extensions.py`` imports next to the platform's magics."""
    script = (
        "python -c 'import extensions' 2>/dev/null && echo taken || echo free; "
        "cd /tmp && echo 'OWN = True' > extensions.py && "
        "python -c 'import datazentr_extensions.magics, extensions; print(extensions.OWN)'"
    )
    lines = run(docker_engine, singleuser_image, ["bash", "-c", script]).split()
    assert lines == ["free", "True"]
    # What the image installed is consistent: every requirement of every package is there.
    assert "No broken requirements" in run(docker_engine, singleuser_image, ["pip", "check"])


def test_python_language_server_is_installed(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    output = run(docker_engine, singleuser_image, ["pylsp", "--version"])
    assert "pylsp" in output.lower() or re.search(r"\d+\.\d+", output), output


def test_runs_as_jovyan_and_stays_lean(docker_engine: DockerEngine, singleuser_image: str) -> None:
    script = (
        "id -u; id -un; echo $HOME; pwd; "
        "test -w /opt/datazentr/lib && echo venv-writable || echo venv-read-only; "
        "command -v gcc cc make || echo no-build-tools; "
        "test -e /root/.cache/pip && echo pip-cache || echo no-pip-cache; "
        "python -c 'import rfc3987_syntax' 2>/dev/null && echo slow-import || echo no-slow-import"
    )
    lines = run(docker_engine, singleuser_image, ["bash", "-c", script]).split()
    assert lines == [
        "1000",
        "jovyan",
        "/home/jovyan",
        "/home/jovyan",
        "venv-read-only",
        "no-build-tools",
        "no-pip-cache",
        "no-slow-import",
    ]
    config = docker_engine.client.images.get(singleuser_image).attrs["Config"]
    assert config["User"] == "1000"
    assert config["Cmd"] == ["jupyterhub-singleuser"]


def test_jupyter_server_in_the_container_answers(
    docker_engine: DockerEngine, singleuser_image: str
) -> None:
    port = free_port()
    token = "image-smoke-test-token"
    started = time.monotonic()
    container = docker_engine.client.containers.run(
        singleuser_image,
        [
            "jupyter",
            "server",
            f"--IdentityProvider.token={token}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--no-browser",
        ],
        detach=True,
        network_mode="host",
        user="1000",
    )
    try:
        url = f"http://127.0.0.1:{port}/api/status"
        headers = {"Authorization": f"token {token}"}
        status = None
        while time.monotonic() - started < 60:
            try:
                status = httpx.get(url, headers=headers, timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            container.reload()
            assert container.status in ("created", "running"), container.logs().decode()
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        assert status == 200, container.logs().decode()[-3000:]
        assert httpx.get(url, timeout=2).status_code == 403  # the token is required
        # The platform's extensions run in it (no hub here: the assistant answers offline,
        # the patterns say the server was not started by the hub).
        base = f"http://127.0.0.1:{port}/datazentr"
        assistant = httpx.get(f"{base}/assistant/status", headers=headers, timeout=30)
        assert assistant.status_code == 200 and assistant.json()["engine"] == "offline"
        search = httpx.get(f"{base}/patterns/search?q=csv", headers=headers, timeout=30)
        assert search.status_code == 503
        assert search.json()["error"]["code"] == "platform_not_configured"
        artifact_path("singleuser-image-start.json").write_text(
            json.dumps({"image": singleuser_image, "run_to_api_status_200_s": round(elapsed, 3)})
        )
    finally:
        container.remove(force=True)
