"""Run a command on a project directory inside bubblewrap.

What the sandboxed process gets:

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

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
        "--tmpfs",
        "/tmp",  # noqa: S108 - a private tmpfs inside the sandbox
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


def run(project_dir: Path, argv: list[str], limits: Limits | None = None) -> SandboxResult:
    """Run ``argv`` with the project as its working directory; never raises on failure."""
    limits = limits or Limits()
    # The sandbox user (nobody) must be able to write its copy of the project.
    for root, _dirs, files in os.walk(project_dir):
        os.chmod(root, 0o777)  # noqa: S103 - a scratch copy that only the sandbox uses
        for name in files:
            os.chmod(os.path.join(root, name), 0o666)  # noqa: S103
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command(project_dir, argv, limits),
            capture_output=True,
            text=True,
            timeout=limits.wall_seconds,
            env={"LANG": "C.UTF-8"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return SandboxResult(
            returncode=-9,
            stdout=_text(exc.stdout),
            stderr=_text(exc.stderr) + f"\ntimed out after {limits.wall_seconds:.0f} s",
            seconds=time.perf_counter() - started,
            timed_out=True,
        )
    return SandboxResult(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        seconds=time.perf_counter() - started,
        timed_out=False,
    )


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
