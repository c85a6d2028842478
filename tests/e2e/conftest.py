"""The whole platform (launcher → Postgres, hub, proxy, api) on free loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.helpers import artifact_path, free_port, reachable_by_other_users

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 120
PASSWORD = "correct-horse-battery-staple-42"


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
            found.add(proc.info["pid"])
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
            "DATAZENTR_ADMIN_USERS": "admin",
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
            process.kill()
            raise RuntimeError(f"platform did not start:\n{platform.log_tail()}")
        time.sleep(0.2)
    platform.record_processes()
    return platform


def stop_platform(platform: Platform) -> int:
    platform.record_processes()
    platform.process.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        return platform.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        platform.process.kill()
        raise


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform") / "data"
    data_dir.mkdir()
    running = start_platform(data_dir, artifact_path("platform.log"))
    try:
        yield running
    finally:
        code = stop_platform(running)
        leftovers = _leftovers(running)
        assert code == 0, f"launcher exited with {code}:\n{running.log_tail()}"
        assert not leftovers, f"processes left behind: {leftovers}"


def _leftovers(platform: Platform, grace: float = 15) -> list[str]:
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


class HubUser:
    """A person using the hub over HTTP: signs up, logs in, makes tokens."""

    def __init__(self, platform: Platform, name: str | None = None) -> None:
        self.platform = platform
        self.name = name or f"u{uuid.uuid4().hex[:10]}"
        self.password = PASSWORD
        self.client = httpx.Client(base_url=platform.url, timeout=30, follow_redirects=False)

    def _xsrf(self, page: str) -> str:
        self.client.get(page)
        return self.client.cookies.get("_xsrf", path="/hub/") or ""

    def signup(self, password: str | None = None) -> httpx.Response:
        return self.client.post(
            "/hub/signup",
            data={
                "username": self.name,
                "signup_password": password or self.password,
                "signup_password_confirmation": password or self.password,
                "_xsrf": self._xsrf("/hub/signup"),
            },
        )

    def login(self, password: str | None = None) -> httpx.Response:
        return self.client.post(
            "/hub/login",
            data={
                "username": self.name,
                "password": password or self.password,
                "_xsrf": self._xsrf("/hub/login"),
            },
        )

    def new_token(self, scopes: list[str] | None = None) -> str:
        body: dict[str, object] = {"note": "e2e test", "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.client.post(
            f"/hub/api/users/{self.name}/tokens",
            json=body,
            headers={"X-XSRFToken": self.client.cookies.get("_xsrf", path="/hub/") or ""},
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def admin(platform: Platform) -> Iterator[HubUser]:
    """The admin named in DATAZENTR_ADMIN_USERS, signed up and logged in."""
    user = HubUser(platform, name="admin")
    assert user.signup().status_code == 200
    assert user.login().status_code == 302
    yield user
    user.close()


@pytest.fixture
def new_user(platform: Platform) -> Iterator[HubUser]:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    assert user.login().status_code == 302
    yield user
    user.close()
