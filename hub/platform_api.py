"""The hub's client for the platform api: spawn policy and the usage ledger.

The hub and the quota enforcer talk to the api directly on loopback (not through the
proxy) with the quota service's token, which the api accepts only for these internal
endpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from api.core.config import Settings
from api.core.names import API_PREFIX

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class PlatformApiError(Exception):
    """The api could not be reached or refused the request."""


@dataclass(frozen=True)
class PlanLimits:
    plan_code: str
    plan_name: str
    cpu_limit: float
    memory_limit_mb: int
    idle_timeout_minutes: int
    named_servers: int
    daily_minutes: int | None


@dataclass(frozen=True)
class SpawnPolicy:
    allowed: bool
    message: str
    limits: PlanLimits
    minutes_used: float
    minutes_left: float | None


class PlatformApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformApi:
        return cls(
            f"http://127.0.0.1:{settings.api_port}{API_PREFIX}", settings.quota_service_token()
        )

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT_SECONDS) as client:
            try:
                response = await client.request(
                    method, path, json=body, headers={"Authorization": f"token {self._token}"}
                )
            except httpx.HTTPError as exc:
                raise PlatformApiError(f"the platform api is unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise PlatformApiError(
                f"the platform api answered {response.status_code} to {path}: {response.text}"
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise PlatformApiError(f"the platform api sent no JSON for {path}") from exc

    async def spawn_policy(self, user: str, server_name: str) -> SpawnPolicy:
        data = await self._call(
            "POST", "internal/spawn-policy", {"user": user, "server_name": server_name}
        )
        return SpawnPolicy(
            allowed=data["allowed"],
            message=data["message"],
            limits=PlanLimits(**data["limits"]),
            minutes_used=data["minutes_used"],
            minutes_left=data["minutes_left"],
        )

    async def session_event(
        self,
        *,
        user: str,
        server_name: str,
        started_at: datetime,
        event: str,
        at: datetime,
        reason: str | None = None,
    ) -> None:
        await self._call(
            "POST",
            "internal/sessions",
            {
                "user": user,
                "server_name": server_name,
                "started_at": started_at.isoformat(),
                "event": event,
                "at": at.isoformat(),
                "reason": reason,
            },
        )

    async def heartbeat(self, servers: list[dict[str, str]]) -> list[dict[str, Any]]:
        data = await self._call("POST", "internal/heartbeat", {"servers": servers})
        verdicts: list[dict[str, Any]] = data["verdicts"]
        return verdicts
