"""The one client the extensions and magics reach the platform api with, from a user's server.

The spawner hands every server ``DATAZENTR_API_URL`` (the api as the server reaches it) and
``JUPYTERHUB_API_TOKEN`` (the server's token, owned by its user, with access to the api).
Calls therefore run as the user: the api applies that user's plan and records their usage,
and no model key ever enters the server.

The client is async (the server extensions run on the server's event loop); the magics run
it on a loop of their own (:mod:`.loop_thread`). When the api cannot answer, every caller
gets :class:`ApiUnavailable`, whose messages are written here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

CONNECT_TIMEOUT = 5.0
NOT_CONFIGURED = (
    "This server was not started by the DATAZENtr hub: DATAZENTR_API_URL and "
    "JUPYTERHUB_API_TOKEN are needed to reach the platform api"
)
TRY_AGAIN = "Try again in a moment; if it persists, ask the platform's operator."


class ApiUnavailable(Exception):
    """The api gave no answer: not configured, unreachable or too slow.

    ``reason`` says what happened (one clause, for status lines); ``message`` adds what to do;
    ``status`` and ``code`` are how a handler answers it (``{"error": {...}}``).
    """

    def __init__(self, reason: str, *, status: int, code: str, advice: str = TRY_AGAIN) -> None:
        self.reason = reason
        self.message = f"{reason}. {advice}".strip()
        self.status = status
        self.code = code
        super().__init__(self.message)

    @classmethod
    def not_configured(cls) -> ApiUnavailable:
        return cls(NOT_CONFIGURED, status=503, code="platform_not_configured", advice="")

    @classmethod
    def from_http_error(cls, exc: httpx.HTTPError) -> ApiUnavailable:
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return cls(
                f"The platform api did not answer in time ({kind})", status=504, code="api_timeout"
            )
        return cls(
            f"The platform api cannot be reached ({kind})", status=503, code="api_unreachable"
        )


@dataclass(frozen=True)
class PlatformClientConfig:
    api_url: str
    token: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PlatformClientConfig:
        env = os.environ if environ is None else environ
        url = env.get("DATAZENTR_API_URL", "").rstrip("/")
        token = env.get("JUPYTERHUB_API_TOKEN", "")
        if not url or not token:
            raise ApiUnavailable.not_configured()
        return cls(url, token)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


class PlatformApi:
    """The api as this server's user; relative paths (``"assistant/chat"``) go under its URL.

    One instance per extension (its connections are reused) or per magic call. Configuration
    is read once, from the environment unless given; without it every call raises
    :class:`ApiUnavailable` (the server still starts, and says why in its log).
    """

    def __init__(
        self,
        config: PlatformClientConfig | None = None,
        *,
        timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        try:
            self.config: PlatformClientConfig | None = (
                config or PlatformClientConfig.from_environment(environ)
            )
        except ApiUnavailable:
            self.config = None

    def describe(self) -> str:
        return self.config.api_url if self.config else f"not configured ({NOT_CONFIGURED})"

    @property
    def client(self) -> httpx.AsyncClient:
        if self.config is None:
            raise ApiUnavailable.not_configured()
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.config.api_url + "/",
                headers=self.config.headers,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT)),
                transport=self._transport,
            )
        return self._client

    async def request(
        self, method: str, path: str, *, json: Any = None, seconds: float | None = None
    ) -> httpx.Response:
        """The api's answer, whatever its status; ``seconds`` overrides the timeout."""
        kwargs: dict[str, Any] = {"json": json} if json is not None else {}
        if seconds is not None:
            kwargs["timeout"] = httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))
        try:
            return await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiUnavailable.from_http_error(exc) from exc

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, json: Any = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed answer; an error while reading it also raises :class:`ApiUnavailable`."""
        try:
            async with self.client.stream(method, path, json=json) as response:
                yield response
        except httpx.HTTPError as exc:
            raise ApiUnavailable.from_http_error(exc) from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> PlatformApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
