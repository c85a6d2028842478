"""The api's engine status (model or offline), remembered for a while: inline completion
asks it on every keystroke."""

from __future__ import annotations

import time
from typing import Any

from ..platform_client import ApiUnavailable, PlatformApi

OFFLINE_NOTICE = "the offline engine (pattern library and jedi completions) answers"


class EngineStatus:
    def __init__(self, platform: PlatformApi, ttl: float, timeout: float = 5.0) -> None:
        self.platform = platform
        self.ttl = ttl
        self.timeout = timeout
        self._status: dict[str, Any] | None = None
        self._at = 0.0

    async def get(self, fresh: bool = False) -> dict[str, Any]:
        """The api's engine status, or an offline status when the api cannot answer."""
        now = time.monotonic()
        if not fresh and self._status is not None and now - self._at < self.ttl:
            return self._status
        try:
            response = await self.platform.request("GET", "assistant/status", seconds=self.timeout)
            if response.status_code != 200:
                raise ValueError(
                    f"The platform api answered {response.status_code} to a status request"
                )
            status: dict[str, Any] = {**response.json(), "api_reachable": True}
        except ApiUnavailable as exc:
            status = offline_status(exc.reason)
        except ValueError as exc:
            status = offline_status(str(exc))
        self._status, self._at = status, now
        return status

    def forget(self) -> None:
        """Ask again next time (the api just failed to answer a request)."""
        self._status = None


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
