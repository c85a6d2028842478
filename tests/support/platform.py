"""The whole platform (launcher → Postgres, hub, proxy, api) on free loopback ports, started
and stopped as a person does in a terminal, with every process it ran accounted for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support.filesystem import reachable_by_other_users
from tests.support.network import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The admin every test platform names (DATAZENTR_ADMIN_USERS) by address; signing up with it
# gives the user name ADMIN_NAME.
ADMIN_NAME = "platform-admin"
ADMIN_EMAIL = f"{ADMIN_NAME}@example.org"
READY_TIMEOUT = 120
STOP_TIMEOUT = 60


@dataclass
class Platform:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    seen_pids: set[int] = field(default_factory=set)

    def record_processes(self) -> None:
        """Remember every process the platform runs now, to check they all stop later."""
        try:
            launcher = psutil.Process(self.process.pid)
            self.seen_pids.update(p.pid for p in launcher.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
        self.seen_pids.update(_processes_using(self.data_dir))

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _processes_using(data_dir: Path) -> set[int]:
    """Processes whose command line or working directory is inside the data dir."""
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        cwd = proc.info["cwd"] or ""
        if str(data_dir) in cmdline or cwd.startswith(str(data_dir)):
            found.add(int(proc.info["pid"]))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def start_platform(data_dir: Path, log_path: Path, **env: str) -> Platform:
    """``python -m hub.launcher up`` on ``data_dir``, once it says it is running.

    ``env`` adds to (or overrides) the environment: ``DATAZENTR_*`` settings, ``DOCKER_HOST``."""
    reachable_by_other_users(data_dir)
    hub_port = free_port()
    environment = (
        os.environ
        | {
            "DATAZENTR_DATA_DIR": str(data_dir),
            "DATAZENTR_HUB_PORT": str(hub_port),
            "DATAZENTR_HUB_API_PORT": str(free_port()),
            "DATAZENTR_PROXY_API_PORT": str(free_port()),
            "DATAZENTR_API_PORT": str(free_port()),
            "DATAZENTR_ADMIN_USERS": ADMIN_EMAIL,
            "DATAZENTR_SPAWNER": "local",
            # Quota rounds every 2 s, so budget enforcement shows within a test.
            "DATAZENTR_QUOTA_CHECK_SECONDS": "2",
        }
        | env
    )
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.launcher", "up"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    platform = Platform(f"http://127.0.0.1:{hub_port}", data_dir, process, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while "DATAZENtr is running at" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = platform.log_tail()
            _stop_everything(platform)
            raise RuntimeError(f"platform did not start:\n{tail}")
        time.sleep(0.2)
    platform.record_processes()
    return platform


def stop_platform(platform: Platform) -> int:
    """Ctrl-C for the launcher; its exit code."""
    platform.record_processes()
    platform.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        return platform.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_everything(platform)
        raise


def _stop_everything(platform: Platform) -> None:
    """A platform that failed to start or to stop: Ctrl-C for the launcher, then kill what
    is still running, so no hub, proxy or Postgres is left behind for the next test."""
    platform.record_processes()
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGINT)
        try:
            platform.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            platform.process.kill()
            platform.process.wait()
    for pid in _alive(platform.seen_pids) | _processes_using(platform.data_dir):
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            continue


def leftover_processes(platform: Platform, grace: float = 15) -> list[str]:
    """Processes of the platform still alive ``grace`` seconds after the launcher exited."""
    deadline = time.monotonic() + grace
    while True:
        alive = _alive(platform.seen_pids) | _processes_using(platform.data_dir)
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    described = []
    for pid in sorted(alive):
        try:
            described.append(f"{pid}: {' '.join(psutil.Process(pid).cmdline())[:200]}")
        except psutil.NoSuchProcess:
            continue
    return described
