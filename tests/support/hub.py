"""People using a running platform's hub over HTTP: signing up and in, tokens, servers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.support.platform import Platform

PASSWORD = "correct-horse-battery-staple-42"
# A plan with no session time at all (admins put it with ``PUT /admin/plans/tiny``).
TINY_PLAN = {
    "name": "Tiny",
    "rank": 0,
    "cpu_limit": 0.5,
    "memory_limit_mb": 512,
    "daily_minutes": 0,
    "idle_timeout_minutes": 5,
    "named_servers": 1,
    "storage_gb": 1,
}


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


class Hub:
    """The hub's REST API with one user's token (``client``), and the api with it (``api``)."""

    def __init__(self, user: HubUser) -> None:
        self.user = user
        self.client = httpx.Client(
            base_url=f"{user.platform.url}/hub/api",
            timeout=60,
            headers={"Authorization": f"token {user.new_token()}"},
        )
        self.api = httpx.Client(
            base_url=f"{user.platform.url}/services/api", timeout=30, headers=self.client.headers
        )

    def _server_path(self, server: str) -> str:
        if server:
            return f"/users/{self.user.name}/servers/{server}"
        return f"/users/{self.user.name}/server"

    def start(self, server: str = "") -> httpx.Response:
        return self.client.post(self._server_path(server))

    def servers(self) -> dict[str, dict[str, object]]:
        model = self.client.get(f"/users/{self.user.name}").json()
        servers: dict[str, dict[str, object]] = model["servers"]
        return servers

    def wait_ready(self, server: str = "", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.servers().get(server, {}).get("ready"):
            assert time.monotonic() < deadline, f"server {server!r} never became ready"
            time.sleep(0.5)

    def stop(self, server: str = "") -> None:
        self.client.delete(self._server_path(server))
        deadline = time.monotonic() + 60
        while server in self.servers():
            assert time.monotonic() < deadline, "server did not stop"
            time.sleep(0.5)

    def usage(self) -> dict[str, Any]:
        """The api's ``/me/usage`` answer (JSON): plan, sessions, minutes used and left."""
        response = self.api.get("/me/usage")
        assert response.status_code == 200, response.text
        usage: dict[str, Any] = response.json()
        return usage
