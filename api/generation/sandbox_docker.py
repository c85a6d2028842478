"""Run a command on a project directory inside a Docker container (the gates' sandbox when
a Docker engine is reachable).

What the container gets:

- no network (``network_mode=none``), no capabilities, no new privileges, user nobody;
- a read-only root filesystem (the image, ``datazentr/base:bookworm`` by default) and,
  read-only, the Python that runs the gates (its prefix and virtualenv, at the same paths,
  so the gates' tools are the worker's own) and the worker's ``node`` for JavaScript;
- one writable mount: the scratch copy of the project at ``/project``; ``/tmp`` is a
  small private tmpfs;
- limits: memory (no swap), one CPU, a pids limit, CPU-seconds, file-size and open-file
  ulimits, and a wall-clock timeout after which the container is killed.

The container is removed afterwards in every case: finished, timed out or cancelled.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound
from docker.types import Ulimit
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout, RequestException

from api.generation.errors import SandboxUnavailable
from api.generation.sandbox import PROJECT_MOUNT, Limits, SandboxResult, prepare

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "datazentr/base:bookworm"
LABEL = "datazentr.sandbox"
TMP_BYTES = 256 * 1024 * 1024
NODE_MOUNT = "/opt/datazentr-node/bin/node"


def python_dirs() -> list[str]:
    """The interpreter's installation and the virtualenv (the gates' tools live there)."""
    return sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)})


@cache
def skeletons() -> dict[str, str]:
    """Per top-level directory (``/root``, ``/work``...) of the Python's directories: a host
    directory holding only the empty path down to them (mode 755), made once per process and
    removed when it exits."""
    base = Path(tempfile.mkdtemp(prefix="datazentr-sandbox-skeleton-"))
    atexit.register(shutil.rmtree, base, True)
    base.chmod(0o755)
    found: dict[str, str] = {}
    for directory in python_dirs():
        top, _, rest = directory.strip("/").partition("/")
        if "/" + top in ("/usr", "/opt", "/tmp"):  # noqa: S108 - the image's own
            continue
        path = base / top / rest
        path.mkdir(parents=True, exist_ok=True)
        for parent in [path, *path.relative_to(base).parents]:
            (base / parent).chmod(0o755)
        found["/" + top] = str(base / top)
    return found


def client_for(docker_host: str | None, timeout: float = 30) -> docker.DockerClient:
    try:
        if docker_host:
            return docker.DockerClient(base_url=docker_host, version="auto", timeout=int(timeout))
        return docker.from_env(version="auto", timeout=int(timeout))
    except (DockerException, RequestException) as exc:
        raise SandboxUnavailable(f"No Docker engine answers for the gates' sandbox: {exc}") from exc


def engine_ready(docker_host: str | None, image: str) -> bool:
    """Whether a Docker engine answers at ``docker_host`` (or ``DOCKER_HOST``, or the
    default socket) and has the sandbox image."""
    host = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False
    try:
        client = client_for(host, timeout=3)
    except SandboxUnavailable:
        return False
    try:
        client.images.get(image)
    except (DockerException, RequestException, OSError):
        return False
    finally:
        client.close()
    return True


def container_options(project_dir: Path, argv: list[str], limits: Limits) -> dict[str, Any]:
    volumes: dict[str, dict[str, str]] = {str(project_dir): {"bind": PROJECT_MOUNT, "mode": "rw"}}
    # A directory such as /root is private (700) in the image: an empty, traversable
    # skeleton of each top-level directory the Python lives under is mounted over it,
    # read-only, and the Python's own directories on top.
    tmpfs = {"/tmp": f"rw,nosuid,nodev,size={TMP_BYTES},mode=1777"}  # noqa: S108
    for top, skeleton in skeletons().items():
        volumes[skeleton] = {"bind": top, "mode": "ro"}
    for directory in python_dirs():
        volumes[directory] = {"bind": directory, "mode": "ro"}
    node = shutil.which("node")
    if node is not None:  # the JavaScript gates' runtime, like the Python, is the worker's
        volumes[os.path.realpath(node)] = {"bind": NODE_MOUNT, "mode": "ro"}
    return {
        "command": argv,
        "working_dir": PROJECT_MOUNT,
        "user": "65534:65534",
        "environment": {
            "HOME": "/tmp",  # noqa: S108
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": ":".join(
                [os.path.dirname(sys.executable), os.path.dirname(NODE_MOUNT), "/usr/bin", "/bin"]
            ),
        },
        "network_mode": "none",
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "volumes": volumes,
        "tmpfs": tmpfs,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": 1_000_000_000,
        "pids_limit": limits.processes,
        "ulimits": [
            Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds),
            Ulimit(name="fsize", soft=limits.file_bytes, hard=limits.file_bytes),
            Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
        ],
        "labels": {LABEL: "gate"},
    }


@dataclass(frozen=True)
class DockerSandbox:
    """The Docker backend of :func:`api.generation.sandbox.run_async`."""

    image: str = DEFAULT_IMAGE
    docker_host: str | None = None
    name: str = "docker"

    async def run(self, project_dir: Path, argv: list[str], limits: Limits) -> SandboxResult:
        prepare(project_dir)
        client = await asyncio.to_thread(client_for, self.docker_host)
        started = time.perf_counter()
        try:
            starting = asyncio.ensure_future(
                asyncio.to_thread(self._start, client, project_dir, argv, limits)
            )
            try:
                container = await asyncio.shield(starting)
            except asyncio.CancelledError:
                # Cancelled while the engine creates it: remove it once it exists.
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(_remove, await starting)
                raise
            try:
                status = await asyncio.to_thread(self._wait, container, limits.wall_seconds)
                seconds = time.perf_counter() - started
                if status is None:
                    return SandboxResult(
                        -9, "", f"timed out after {limits.wall_seconds:.0f} s", seconds, True
                    )
                stdout = await asyncio.to_thread(container.logs, stdout=True, stderr=False)
                stderr = await asyncio.to_thread(container.logs, stdout=False, stderr=True)
                return SandboxResult(status, _text(stdout), _text(stderr), seconds, False)
            finally:
                # Also on cancel: the container (and every process in it) is gone at once.
                await asyncio.shield(asyncio.to_thread(_remove, container))
        finally:
            client.close()

    def _start(
        self, client: docker.DockerClient, project_dir: Path, argv: list[str], limits: Limits
    ) -> Any:
        try:
            container = client.containers.create(
                self.image, **container_options(project_dir, argv, limits)
            )
        except ImageNotFound as exc:
            raise SandboxUnavailable(
                f"The gates' sandbox image {self.image} is not on the Docker engine; build it "
                "with `make image` or set DATAZENTR_GENERATION_SANDBOX_IMAGE."
            ) from exc
        except (DockerException, RequestException) as exc:
            raise SandboxUnavailable(f"The gates' sandbox container did not start: {exc}") from exc
        try:
            container.start()
        except (DockerException, RequestException) as exc:
            _remove(container)
            raise SandboxUnavailable(f"The gates' sandbox container did not start: {exc}") from exc
        return container

    @staticmethod
    def _wait(container: Any, seconds: float) -> int | None:
        """The exit status, or None after ``seconds`` (the container is then killed)."""
        try:
            result = container.wait(timeout=seconds)
        except (ReadTimeout, RequestsConnectionError):
            with contextlib.suppress(DockerException, RequestException):
                container.kill()
            return None
        return int(result.get("StatusCode", -1))


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except (DockerException, RequestException) as exc:
        log.warning("could not remove the sandbox container %s: %s", container.id, exc)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
