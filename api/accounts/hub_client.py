"""The hub's REST API as the account pages use it: a person's own hub user and tokens.

The api calls the hub with its own service token (``JUPYTERHUB_API_TOKEN``, at
``JUPYTERHUB_API_URL``: the hub sets both in the api's environment, and the api's
``HubOAuth`` already reads them). Its hub role (``hub/config.py``) grants ``tokens`` (list,
create and revoke any user's tokens) and ``delete:users``.

Every failure becomes one of three errors a page can explain: the hub did not answer
(``HubUnreachable``), it does not know the user (``HubUserUnknown``), or it refused the
request with a reason (``HubRefused``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request

from api.accounts.errors import AccountError

log = logging.getLogger(__name__)

HUB_TIMEOUT_SECONDS = 30
# A hub user whose server is stopping cannot be deleted yet; the hub says so and we ask
# again, this long at most (a container's stop can take a while on a busy machine).
STOPPING_WAIT_SECONDS = 120
# The name of JupyterHub's own OAuth client: tokens it issued itself (API tokens and
# servers' tokens), as opposed to those of services and servers people signed in to.
HUB_ISSUED = "JupyterHub"
# JupyterHub's note on the token it gives a server it starts.
SERVER_TOKEN_NOTE = "Server at "  # noqa: S105 - a note, not a secret


class HubProblem(AccountError):
    status = 503
    code = "hub_problem"


class HubUnreachable(HubProblem):
    """The hub did not answer, or answered with a server error."""

    def __init__(self) -> None:
        super().__init__(
            "The hub is not answering just now. Nothing was changed: try again in a minute."
        )


class HubUserUnknown(HubProblem):
    """The hub has no user of this name (the person never signed in there)."""

    status = 404
    code = "hub_user_unknown"


class HubRefused(HubProblem):
    """The hub refused the request; ``reason`` is its own message."""

    status = 400
    code = "hub_refused"

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.hub_status = status
        self.reason = reason


@dataclass(frozen=True)
class HubToken:
    """One of a person's hub API tokens, as the hub describes it."""

    id: str
    note: str
    scopes: list[str]
    created: datetime | None
    last_activity: datetime | None
    expires_at: datetime | None
    issued_by: str

    @property
    def is_servers(self) -> bool:
        """The token the hub gave one of the person's running servers."""
        return self.note.startswith(SERVER_TOKEN_NOTE)

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> HubToken:
        return cls(
            id=str(model["id"]),
            note=str(model.get("note") or ""),
            scopes=sorted(str(scope) for scope in model.get("scopes") or []),
            created=_moment(model.get("created")),
            last_activity=_moment(model.get("last_activity")),
            expires_at=_moment(model.get("expires_at")),
            issued_by=str(model.get("oauth_client") or ""),
        )


@dataclass(frozen=True)
class NewHubToken:
    token: HubToken
    secret: str


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class HubClient:
    """The hub's REST API at ``api_url`` with the service token ``token``."""

    def __init__(self, api_url: str, token: str, *, timeout: float = HUB_TIMEOUT_SECONDS) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.timeout = timeout

    async def _call(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        try:
            async with httpx.AsyncClient(
                base_url=self.api_url, headers=headers, timeout=self.timeout
            ) as client:
                response = await client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            log.warning("hub API %s %s failed: %s", method, path, exc)
            raise HubUnreachable() from exc
        if response.status_code >= 500:
            log.warning("hub API %s %s answered %s", method, path, response.status_code)
            raise HubUnreachable()
        return response

    @staticmethod
    def _refusal(response: httpx.Response) -> HubRefused:
        try:
            reason = str(response.json().get("message") or "")
        except ValueError:
            reason = ""
        return HubRefused(response.status_code, reason or response.reason_phrase)

    async def tokens(self, username: str) -> list[HubToken]:
        """The tokens JupyterHub itself issued to ``username``, newest first."""
        response = await self._call("GET", f"users/{quote(username, safe='')}/tokens")
        if response.status_code == 404:
            raise HubUserUnknown(f"The hub has no user {username}.")
        if response.status_code != 200:
            raise self._refusal(response)
        tokens = [HubToken.from_model(model) for model in response.json()["api_tokens"]]
        own = [token for token in tokens if token.issued_by == HUB_ISSUED]
        return sorted(own, key=lambda token: token.created or datetime.min, reverse=True)

    async def create_token(
        self, username: str, *, note: str, scopes: list[str], expires_in_seconds: int | None
    ) -> NewHubToken:
        body: dict[str, Any] = {"note": note, "scopes": scopes}
        if expires_in_seconds is not None:
            body["expires_in"] = expires_in_seconds
        response = await self._call("POST", f"users/{quote(username, safe='')}/tokens", json=body)
        if response.status_code != 201:
            refusal = self._refusal(response)
            # The hub answers 403 "not found or no permissions" for a user it does not know.
            if response.status_code == 403 and "not found" in refusal.reason:
                raise HubUserUnknown(f"The hub has no user {username}.")
            raise refusal
        model = response.json()
        return NewHubToken(HubToken.from_model(model), str(model["token"]))

    async def revoke_token(self, username: str, token_id: str) -> bool:
        """Revoke the user's token; False if the user has no such token."""
        path = f"users/{quote(username, safe='')}/tokens/{quote(token_id, safe='')}"
        response = await self._call("DELETE", path)
        if response.status_code == 404:
            return False
        if response.status_code != 204:
            raise self._refusal(response)
        return True

    async def delete_user(self, username: str) -> bool:
        """Stop the user's servers and delete the user; False if the hub has no such user.

        The hub refuses (400) while a server is still stopping: ask again until it is
        stopped, at most ``STOPPING_WAIT_SECONDS``."""
        path = f"users/{quote(username, safe='')}"
        deadline = time.monotonic() + STOPPING_WAIT_SECONDS
        while True:
            response = await self._call("DELETE", path)
            if response.status_code == 404:
                return False
            if response.status_code == 204:
                return True
            refusal = self._refusal(response)
            if response.status_code != 400 or "stopping" not in refusal.reason:
                raise refusal
            if time.monotonic() > deadline:
                raise HubRefused(
                    400, "Your server is still stopping. Wait a minute, then try again."
                )
            await asyncio.sleep(1)


def hub_client_for(request: Request) -> HubClient:
    """A client with the api's own hub URL and service token (those its ``HubOAuth``
    resolves people's tokens with)."""
    hub_auth = request.app.state.identity.hub_auth
    return HubClient(str(hub_auth.api_url), str(hub_auth.api_token or ""))
