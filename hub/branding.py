"""The hub's pages in a member's organisation's branding (name, logo, colours).

``JupyterHub.template_vars`` values may be callables of the page's user; ``MemberBrands``
is one. The hub's event loop must never wait on the api, so brands are kept for a while
and fetched in the background: a page rendered asynchronously (every page but the error
pages) waits at most ``wait_seconds`` for a brand it has not seen yet, and shows the
product's own brand if the api is slow or away. The api answers the hub on loopback with
the quota service's token (``GET …/internal/branding/<name>``); nothing secret is in a
brand, and nothing of it but checked colours, a name (escaped) and URLs reaches a page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from api.core.config import Settings
from hub.platform_api import internal_api_url

log = logging.getLogger(__name__)

Brand = dict[str, Any]
FIELDS = ("organisation", "name", "primary", "accent", "logo_url", "stylesheet_url")


@dataclass
class _Known:
    brand: Brand | None
    until: float


class PendingBrand:
    """A brand still being fetched. Falsy, so a page rendered at once (an error page) shows
    the product's brand; awaited (Jinja awaits what a call returns in the hub's async
    templates), it is the brand, or the last one known if the api does not answer in time."""

    def __init__(self, task: asyncio.Task[Brand | None], fallback: Brand | None, wait: float):
        self._task = task
        self._fallback = fallback
        self._wait = wait

    def __bool__(self) -> bool:
        return False

    async def _result(self) -> Brand | None:
        try:
            return await asyncio.wait_for(asyncio.shield(self._task), self._wait)
        except Exception:  # slow or failed: the page does not wait longer
            return self._fallback

    def __await__(self) -> Generator[Any, None, Brand | None]:
        return self._result().__await__()


class MemberBrands:
    """``template_vars["member_brand"]``: for the page's user, a function of no arguments
    giving their organisation's brand (None: the product's own)."""

    def __init__(
        self,
        api_url: str,
        token: Callable[[], str],
        *,
        ttl_seconds: float = 60.0,
        failure_ttl_seconds: float = 10.0,
        wait_seconds: float = 1.5,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url
        self._token = token
        self.ttl_seconds = ttl_seconds
        self.failure_ttl_seconds = failure_ttl_seconds
        self.wait_seconds = wait_seconds
        self.timeout_seconds = timeout_seconds
        self._transport = transport
        self._token_value = ""
        self._known: dict[str, _Known] = {}
        self._fetching: dict[str, asyncio.Task[Brand | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MemberBrands:
        return cls(internal_api_url(settings), settings.quota_service_token)

    @property
    def token(self) -> str:
        if not self._token_value:  # read once, when the first brand is fetched
            self._token_value = self._token()
        return self._token_value

    def __call__(self, user: Any = None) -> Callable[[], Brand | PendingBrand | None] | None:
        if user is None or not getattr(user, "name", None):
            return None
        name = str(user.name)
        return lambda: self.brand_of(name)

    def brand_of(self, name: str) -> Brand | PendingBrand | None:
        known = self._known.get(name)
        if known is not None and known.until > time.monotonic():
            return known.brand
        fallback = known.brand if known else None
        task = self._fetching.get(name)
        if task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a page rendered outside the hub): no brand
                return fallback
            task = loop.create_task(self._fetch(name, fallback))
            self._fetching[name] = task
            task.add_done_callback(lambda _: self._fetching.pop(name, None))
        return PendingBrand(task, fallback, self.wait_seconds)

    # What is fetched: the api's internal path and what it is called in the log.
    path = "branding"
    what = "branding"

    def parse(self, data: Any) -> Brand | None:
        return brand_from(data)

    async def _fetch(self, name: str, fallback: Brand | None) -> Brand | None:
        url = f"{self.api_url}internal/{self.path}/{quote(name, safe='')}"
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_seconds, transport=self._transport
            ) as client:
                answer = await client.get(url, headers={"Authorization": f"token {self.token}"})
            answer.raise_for_status()
            brand = self.parse(answer.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("the %s of %s could not be read from the api: %s", self.what, name, exc)
            self._known[name] = _Known(fallback, time.monotonic() + self.failure_ttl_seconds)
            return fallback
        self._known[name] = _Known(brand, time.monotonic() + self.ttl_seconds)
        return brand


def brand_from(data: Any) -> Brand | None:
    """The brand in the api's answer (``{"branding": {...} | null}``), its known fields only."""
    if not isinstance(data, dict):
        raise ValueError(f"not a branding answer: {data!r}")
    brand = data.get("branding")
    if brand is None:
        return None
    if not isinstance(brand, dict) or not isinstance(brand.get("name"), str):
        raise ValueError(f"not a brand: {brand!r}")
    return {key: brand.get(key) for key in FIELDS}
