"""How the platform's extensions and magics reach the api from inside a user's server.

The spawner hands every server ``DATAZENTR_API_URL`` (the api as the server reaches it) and
``JUPYTERHUB_API_TOKEN`` (the server's token, owned by its user, with access to the api).
Calls therefore run as the user: the api applies that user's plan and records their usage,
and no model key ever enters the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class PlatformNotConfigured(RuntimeError):
    """The server was not started by the platform's hub (no api URL or token)."""


@dataclass(frozen=True)
class PlatformClientConfig:
    api_url: str
    token: str

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> PlatformClientConfig:
        env = os.environ if environ is None else environ
        url = env.get("DATAZENTR_API_URL", "").rstrip("/")
        token = env.get("JUPYTERHUB_API_TOKEN", "")
        if not url or not token:
            raise PlatformNotConfigured(
                "This server was not started by the DATAZENtr hub: DATAZENTR_API_URL and "
                "JUPYTERHUB_API_TOKEN are needed to reach the platform api."
            )
        return cls(url, token)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


def platform_client(config: PlatformClientConfig | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient whose relative URLs (``"assistant/chat"``) go to the api as the user."""
    config = config or PlatformClientConfig.from_environment()
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    return httpx.AsyncClient(base_url=config.api_url + "/", headers=config.headers, **kwargs)
