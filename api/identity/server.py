"""Authlib's authorization server driven from Starlette (Authlib ships Flask and Django only).

Authlib's grants are synchronous and read the request through ``payload.data``,
``form``, ``args`` and ``headers``. Starlette reads bodies asynchronously, so a route first
reads the whole request into a ``StarletteOAuth2Request``, then calls Authlib inside
``AsyncSession.run_sync``: the grants' database calls are ordinary ORM calls on the
request's own session (``db()``), whose I/O goes through the async driver.

The request's URI is built from the configured issuer, never from the Host header: Authlib
refuses plain-http URIs that are not loopback, and the hub may reach the api by another
name than the public one.
"""

from __future__ import annotations

import contextvars
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.core.names import API_PREFIX

log = logging.getLogger(__name__)

T = TypeVar("T")

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# The session of the request being served, for the grants Authlib calls without it.
_db: contextvars.ContextVar[Session] = contextvars.ContextVar("oauth_db")


def db() -> Session:
    """The (sync face of the) database session of the OAuth request being served."""
    return _db.get()


async def run_with_session(session: AsyncSession, call: Callable[[], T]) -> T:
    """Run a synchronous Authlib call with ``db()`` bound to ``session``."""

    def inside(sync_session: Session) -> T:
        token = _db.set(sync_session)
        try:
            return call()
        finally:
            _db.reset(token)

    return await session.run_sync(inside)


class StarlettePayload(OAuth2Payload):  # type: ignore[misc]
    """Query string and form body merged, as Flask's ``request.values``."""

    def __init__(self, query: list[tuple[str, str]], form: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in [*query, *form]:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An OAuth request read in full, so Authlib's synchronous code can look at it."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = StarlettePayload(query, form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_oauth_request(request: Request, issuer: str) -> StarletteOAuth2Request:
    """The whole request, with its URI on the issuer's address."""
    form: list[tuple[str, str]] = []
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith(_FORM_TYPES):
        async with request.form() as body:
            form = [(key, value) for key, value in body.multi_items() if isinstance(value, str)]
    relative = request.url.path.removeprefix(API_PREFIX.rstrip("/"))
    uri = issuer + relative + (f"?{request.url.query}" if request.url.query else "")
    return StarletteOAuth2Request(
        request.method, uri, request.headers, list(request.query_params.multi_items()), form
    )


class StarletteAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """The framework hooks Authlib leaves to an integration, for Starlette responses."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("read the request with read_oauth_request() first")

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints (dynamic client registration) here")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        header_map = dict(headers)
        if isinstance(body, dict):
            header_map.pop("Content-Type", None)
            return JSONResponse(body, status_code=status, headers=header_map)
        return Response(body, status_code=status, headers=header_map)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        # Flask's integration sends blinker signals here; the base class raises.
        log.debug("oauth signal %s", name)
