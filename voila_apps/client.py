"""The api as a dashboard's kernel reaches it: as the visitor, with their credential.

The dashboards service gives each page's kernel a short-lived credential for the signed-in
visitor (``HTTP_X_DATAZENTR_DASHBOARD_CREDENTIAL`` in the kernel's environment, set by
Voila from the page request). With preheated kernels it arrives when the visitor does:
``connect()`` waits for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from api.core.names import DASHBOARD_API_URL_ENV as API_URL_ENV
from api.core.names import DASHBOARD_CREDENTIAL_ENV as CREDENTIAL_ENV
from api.core.names import DASHBOARD_CREDENTIAL_HEADER as HEADER


class DashboardError(Exception):
    """The api said no, or could not be reached; the message is for the visitor."""


class ApiClient:
    def __init__(self, base_url: str, credential: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.http = httpx.Client(
            base_url=self.base_url + "/", headers={HEADER: credential}, timeout=timeout
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path.lstrip("/"), **kwargs)
        except httpx.HTTPError as exc:
            raise DashboardError(f"The platform api did not answer ({exc}).") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise DashboardError(message)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None and v != ""}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, json=body)

    async def follow(self, path: str, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Events from one of the api's WebSockets, as they come."""
        import websockets

        url = self.base_url.replace("http://", "ws://").replace("https://", "wss://")
        async with websockets.connect(
            f"{url}/{path.lstrip('/')}?after={after}",
            additional_headers={HEADER: self.credential},
            open_timeout=10,
        ) as socket:
            async for message in socket:
                yield json.loads(message)


def connect() -> ApiClient:
    """The api client for the visitor of this page (waits for them with preheated kernels)."""
    from voila.utils import wait_for_request  # type: ignore[import-untyped]

    wait_for_request()
    credential = os.environ.get(CREDENTIAL_ENV)
    base_url = os.environ.get(API_URL_ENV)
    if not credential or not base_url:
        raise DashboardError("Open this dashboard through the hub: /services/dashboards/")
    return ApiClient(base_url, credential)
