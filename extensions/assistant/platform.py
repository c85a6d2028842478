"""The platform api as the assistant uses it: status (cached), JSON calls and streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from extensions.platform_client import PlatformClientConfig, PlatformNotConfigured, platform_client

OFFLINE_NOTICE = "the offline engine (pattern library and jedi completions) answers"


class ApiUnavailable(Exception):
    """The api could not be reached (not configured, refused, timed out)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlatformApi:
    """One shared client per server; every call runs as the server's user."""

    def __init__(self, status_ttl: float = 20.0, environ: Mapping[str, str] | None = None) -> None:
        self.status_ttl = status_ttl
        self._client: httpx.AsyncClient | None = None
        self._status: dict[str, Any] | None = None
        self._status_at = 0.0
        try:
            env = dict(environ) if environ is not None else None
            self.config: PlatformClientConfig | None = PlatformClientConfig.from_environment(env)
            self.problem = ""
        except PlatformNotConfigured as exc:
            self.config = None
            self.problem = str(exc)

    def describe(self) -> str:
        return self.config.api_url if self.config else f"not configured ({self.problem})"

    @property
    def client(self) -> httpx.AsyncClient:
        if self.config is None:
            raise ApiUnavailable(self.problem)
        if self._client is None:
            self._client = platform_client(self.config, timeout=httpx.Timeout(120.0, connect=5.0))
        return self._client

    async def request(
        self, method: str, path: str, *, json: Any = None, seconds: float | None = None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {"json": json} if json is not None else {}
        if seconds is not None:
            kwargs["timeout"] = httpx.Timeout(seconds, connect=min(seconds, 5.0))
        try:
            return await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnavailable(unreachable_message(exc)) from exc

    @asynccontextmanager
    async def stream(self, method: str, path: str, *, json: Any) -> AsyncIterator[httpx.Response]:
        try:
            async with self.client.stream(method, path, json=json) as response:
                yield response
        except httpx.TransportError as exc:
            raise ApiUnavailable(unreachable_message(exc)) from exc

    async def status(self, fresh: bool = False) -> dict[str, Any]:
        """The api's engine status, or an offline status when the api cannot answer."""
        now = time.monotonic()
        if not fresh and self._status is not None and now - self._status_at < self.status_ttl:
            return self._status
        try:
            response = await self.request("GET", "assistant/status", seconds=5.0)
            if response.status_code != 200:
                raise ApiUnavailable(
                    f"The platform api answered {response.status_code} to a status request"
                )
            status: dict[str, Any] = {**response.json(), "api_reachable": True}
        except (ApiUnavailable, ValueError) as exc:
            message = exc.message if isinstance(exc, ApiUnavailable) else str(exc)
            status = offline_status(message)
        self._status, self._status_at = status, now
        return status

    def forget_status(self) -> None:
        self._status = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def offline_status(reason: str) -> dict[str, Any]:
    return {
        "engine": "offline",
        "model": None,
        "model_reachable": None,
        "requests_used_today": None,
        "requests_per_day": None,
        "api_reachable": False,
        "message": f"{reason.rstrip('.')}; {OFFLINE_NOTICE}.",
    }


def unreachable_message(exc: httpx.TransportError) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "cannot be reached"
    return f"The platform api {kind} ({type(exc).__name__})"
