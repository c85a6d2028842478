"""The hub's client for the platform api: spawn policy and the usage ledger.

The hub and the quota enforcer talk to the api directly on loopback (not through the
proxy) with the quota service's token, which the api accepts only for these internal
endpoints.

The hub and the api may run different versions for a while (an upgrade, a rollback), so
answers are read leniently: fields the hub does not know are ignored, and only a field the
hub needs and does not get is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

import httpx

from api.core.config import Settings
from api.core.names import API_PREFIX

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0


class PlatformApiError(Exception):
    """The api could not be reached, refused the request, or sent an answer the hub cannot use."""


def internal_api_url(settings: Settings) -> str:
    """The api's base URL as the hub reaches it: its own loopback port, not the proxy."""
    return f"http://127.0.0.1:{settings.api_port}{API_PREFIX}"


_Answer = TypeVar("_Answer")


def _fields_from(cls: type[_Answer], data: Any, what: str) -> dict[str, Any]:
    """The values of ``cls``'s fields in an api answer; other fields are ignored."""
    if not isinstance(data, Mapping):
        raise PlatformApiError(f"the platform api sent no {what} object but {data!r}")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    missing = [name for name in names if name not in data]
    if missing:
        raise PlatformApiError(
            f"the platform api's {what} lacks {', '.join(missing)}: the api is older than "
            f"the hub expects; upgrade the api to the hub's version"
        )
    return {name: data[name] for name in names}


@dataclass(frozen=True)
class PlanLimits:
    plan_code: str
    plan_name: str
    cpu_limit: float
    memory_limit_mb: int
    idle_timeout_minutes: int
    named_servers: int
    daily_minutes: int | None

    @classmethod
    def from_api(cls, data: Any) -> PlanLimits:
        """Read the api's ``LimitsOut``."""
        return cls(**_fields_from(cls, data, "plan limits"))


@dataclass(frozen=True)
class SpawnPolicy:
    allowed: bool
    message: str
    limits: PlanLimits
    minutes_used: float
    minutes_left: float | None
    # The images the person's organisation offers, its default first (empty: the
    # spawner's own image).
    images: list[str]

    @classmethod
    def from_api(cls, data: Any) -> SpawnPolicy:
        """Read the api's ``SpawnPolicyOut``."""
        values = _fields_from(cls, data, "spawn policy")
        return cls(**values | {"limits": PlanLimits.from_api(values["limits"])})


class PlatformApi:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformApi:
        return cls(internal_api_url(settings), settings.quota_service_token())

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout) as client:
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
        return SpawnPolicy.from_api(data)

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
        if not isinstance(data, Mapping) or not isinstance(data.get("verdicts"), list):
            raise PlatformApiError("the platform api's heartbeat answer has no verdicts list")
        verdicts: list[dict[str, Any]] = data["verdicts"]
        return verdicts
