"""People using a running platform over HTTP: signing up and in, tokens, servers."""

from __future__ import annotations

import html
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from api.accounts.sessions import ACCOUNTS_PREFIX
from tests.support.accounts import PASSWORD, csrf_token, random_client_address, token_of
from tests.support.outbox import wait_for_link
from tests.support.platform import Platform

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
PAGES = ACCOUNTS_PREFIX.rstrip("/")
NEXT_FIELD = re.compile(r'name="next" value="([^"]*)"')


class HubUser:
    """A person using the platform over HTTP, as a browser does: signs up on the platform's
    pages, confirms the mailed link (from the outbox: the test platform has no SMTP server),
    signs in to the hub through the platform's sign-in, makes hub tokens.

    The e-mail's local part is ``name``, so the account's user name is ``name``. Each person
    comes from an address of their own (``X-Forwarded-For``, which the proxy passes on), so
    one test's sign-ins and mails never count against another's limits."""

    def __init__(self, platform: Platform, name: str | None = None) -> None:
        self.platform = platform
        self.name = name or f"u{uuid.uuid4().hex[:10]}"
        self.email = f"{self.name}@example.org"
        self.password = PASSWORD
        self.client = httpx.Client(
            base_url=platform.url,
            timeout=30,
            follow_redirects=False,
            headers={"X-Forwarded-For": random_client_address()},
        )

    def _send_form(
        self, path: str, data: dict[str, str], *, page: str | None = None
    ) -> httpx.Response:
        """Open the form's page (``page`` or ``path``), then send the form with its token."""
        shown = self.client.get(page or path)
        assert shown.status_code == 200, shown.text
        return self.client.post(path, data={**data, "csrf_token": csrf_token(shown.text)})

    def _follow(self, response: httpx.Response) -> httpx.Response:
        while response.is_redirect:
            response = self.client.get(response.headers["location"])
        return response

    def signup(self, password: str | None = None) -> httpx.Response:
        """Sign up, confirm the address with the mailed link and complete the profile: the
        welcome page (200), or the sign-up form with its error."""
        sent = self._send_form(
            f"{PAGES}/sign-up",
            {
                "name": f"Person {self.name}",
                "email": self.email,
                "password": password or self.password,
                "terms": "yes",
            },
        )
        if sent.status_code != 200:
            return sent
        link = urlsplit(wait_for_link(self.platform.data_dir, self.email, "/accounts/verify?"))
        confirmed = self._send_form(
            f"{PAGES}/verify", {"token": token_of(link.geturl())}, page=f"{link.path}?{link.query}"
        )
        assert confirmed.status_code == 303, confirmed.text
        profile = self._send_form(f"{PAGES}/profile", {"role": "developer", "institution": ""})
        assert profile.status_code == 303, profile.text
        return self._follow(profile)

    def login(self, password: str | None = None) -> httpx.Response:
        """Open the hub's login, sign in on the platform's page it leads to, and follow the
        way back: the hub home (200), or the sign-in page with its error."""
        shown = self._follow(self.client.get("/hub/login"))
        if urlsplit(str(shown.url)).path == "/hub/home":
            return shown  # signed in on the platform already
        assert urlsplit(str(shown.url)).path == f"{PAGES}/sign-in", shown.url
        next_field = NEXT_FIELD.search(shown.text)
        assert next_field, "the sign-in page carries no next"
        sent = self.client.post(
            f"{PAGES}/sign-in",
            data={
                "email": self.email,
                "password": password or self.password,
                "next": html.unescape(next_field.group(1)),
                "action": "password",
                "csrf_token": csrf_token(shown.text),
            },
        )
        return self._follow(sent) if sent.is_redirect else sent

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
