"""Run a command on a project directory inside a sandbox: bubblewrap (here) or a Docker
container (:mod:`api.generation.sandbox_docker`), chosen by the ``generation_sandbox``
setting (``auto``: Docker when an engine answers, else bubblewrap).

What a bubblewrap-sandboxed process gets:

- no network (``--unshare-all`` includes a new, empty network namespace), no other
  processes (PID namespace), no capabilities, a new session (no terminal injection);
- a read-only view of the system (``/usr``, ``/lib*``, ``/bin``, ``/etc``) and of the
  Python that runs the gates (its prefix and the platform's virtualenv);
- one writable directory: a copy of the project, mounted at ``/project``; ``/tmp`` is a
  private tmpfs that disappears with the process;
- limits: address space, CPU seconds, file size, open files and processes (``prlimit``),
  and a wall-clock timeout after which the whole sandbox is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from api.core.config import Settings, get_settings
from api.generation.errors import SandboxUnavailable

log = logging.getLogger(__name__)

PROJECT_MOUNT = "/project"
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 1024 * 1024 * 1024
    file_bytes: int = 64 * 1024 * 1024
    open_files: int = 256
    processes: int = 64


@dataclass(frozen=True)
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed; quality gates cannot run. "
            "Install it with `apt-get install bubblewrap` (make system-deps does)."
        )
    return path


def python_dirs() -> list[str]:
    """The interpreter's installation and the virtualenv, both mounted read-only."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(d for d in dirs if not any(d.startswith(s + "/") for s in SYSTEM_DIRS))


def command(project_dir: Path, argv: list[str], limits: Limits) -> list[str]:
    args = [
        bwrap_path(),
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        "65534",
        "--gid",
        "65534",
    ]
    # The private /tmp comes first: binds below may live under the host's /tmp (a project
    # checked out there) and must stay visible on top of it.
    args += ["--tmpfs", "/tmp"]  # noqa: S108 - a private tmpfs inside the sandbox
    for directory in SYSTEM_DIRS:
        if os.path.exists(directory):
            args += ["--ro-bind", directory, directory]
    for directory in python_dirs():
        args += ["--ro-bind", directory, directory]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--bind",
        str(project_dir),
        PROJECT_MOUNT,
        "--remount-ro",
        "/",
        "--chdir",
        PROJECT_MOUNT,
        "--setenv",
        "HOME",
        "/tmp",  # noqa: S108
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--setenv",
        "PATH",
        f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--",
        *argv,
    ]
    return args


def prepare(project_dir: Path) -> None:
    """The sandbox user (nobody) must be able to write its scratch copy of the project."""
    for root, _dirs, files in os.walk(project_dir):
        os.chmod(root, 0o777)  # noqa: S103 - a scratch copy that only the sandbox uses
        for name in files:
            os.chmod(os.path.join(root, name), 0o666)  # noqa: S103


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    async def run(self, project_dir: Path, argv: list[str], limits: Limits) -> SandboxResult: ...


@dataclass(frozen=True)
class Bubblewrap:
    name: str = "bubblewrap"

    async def run(self, project_dir: Path, argv: list[str], limits: Limits) -> SandboxResult:
        return await _bubblewrap_run(project_dir, argv, limits)


def choose_backend(settings: Settings) -> Backend:
    """The backend the ``generation_sandbox`` setting asks for; ``auto`` takes Docker when
    an engine answers and has the sandbox image."""
    from api.generation.sandbox_docker import DockerSandbox, engine_ready

    mode, image = settings.generation_sandbox, settings.generation_sandbox_image
    docker_host = os.environ.get("DOCKER_HOST")
    if mode == "docker" or (mode == "auto" and engine_ready(docker_host, image)):
        return DockerSandbox(image, docker_host)
    return Bubblewrap()


@cache
def default_backend() -> Backend:
    backend = choose_backend(get_settings())
    log.info("quality gates run in %s", backend.name)
    return backend


async def run_async(
    project_dir: Path,
    argv: list[str],
    limits: Limits | None = None,
    backend: Backend | None = None,
) -> SandboxResult:
    """Run ``argv`` with the project as its working directory; never raises on failure.

    Cancelling the caller (a cancelled project, a worker shutting down) kills the sandbox
    at once.
    """
    backend = backend or default_backend()
    return await backend.run(project_dir, argv, limits or Limits())


async def _bubblewrap_run(project_dir: Path, argv: list[str], limits: Limits) -> SandboxResult:
    prepare(project_dir)
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command(project_dir, argv, limits),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"LANG": "C.UTF-8"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limits.wall_seconds)
    except TimeoutError:
        _kill(process)
        await process.wait()
        return SandboxResult(
            returncode=-9,
            stdout="",
            stderr=f"timed out after {limits.wall_seconds:.0f} s",
            seconds=time.perf_counter() - started,
            timed_out=True,
        )
    except asyncio.CancelledError:
        # A cancel (the project cancelled, the worker stopping) kills the sandbox and waits
        # for it: no process of the project outlives the step.
        _kill(process)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(process.wait(), 5)
        raise
    return SandboxResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=_text(stdout),
        stderr=_text(stderr),
        seconds=time.perf_counter() - started,
        timed_out=False,
    )


def run(
    project_dir: Path,
    argv: list[str],
    limits: Limits | None = None,
    backend: Backend | None = None,
) -> SandboxResult:
    """Blocking form of :func:`run_async`, for scripts and tests."""
    return asyncio.run(run_async(project_dir, argv, limits, backend))


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        # bwrap runs with --die-with-parent: its children die with it.
        process.kill()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
