"""Who is asking: hub users resolved from a JupyterHub token, by header or browser cookie.

Programs send ``Authorization: token <hub token>`` (or ``Bearer``). Browsers go through the
hub's OAuth flow (``/oauth/login`` → hub → ``/oauth_callback``) and then carry the token in
an HttpOnly cookie scoped to the api's path. Either way the hub answers who the token
belongs to and which scopes it grants; we never keep our own copy of identities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from jupyterhub.services.auth import HubOAuth
from tornado.web import HTTPError

from api.core.names import API_PREFIX
from api.errors import Forbidden, HubUnavailable, LoginRequired, NotAuthenticated

log = logging.getLogger(__name__)

TOKEN_COOKIE = "datazentr-api-token"  # noqa: S105 - a cookie name
STATE_COOKIE = "datazentr-api-oauth-state"
# Hub user models are cached this long, so a burst of requests costs one hub round trip.
IDENTITY_CACHE_SECONDS = 60


@dataclass(frozen=True)
class HubUser:
    """Who is asking: a hub user, or a hub service (``kind == "service"``)."""

    name: str
    admin: bool
    roles: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    kind: str = "user"

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> HubUser:
        admin = bool(model.get("admin", False))
        roles = model.get("roles")
        if roles is None:  # the hub lists roles only to tokens that may read them
            roles = ["admin", "user"] if admin else ["user"]
        return cls(
            name=str(model["name"]),
            admin=admin,
            roles=sorted(roles),
            groups=sorted(model.get("groups") or []),
            scopes=sorted(model.get("scopes") or []),
            kind=str(model.get("kind", "user")),
        )


class HubIdentity:
    """Resolves tokens with the hub. One per process, built from the hub's service env."""

    def __init__(self, hub_auth: HubOAuth | None = None) -> None:
        self.hub_auth = hub_auth or HubOAuth(
            base_url=API_PREFIX, cache_max_age=IDENTITY_CACHE_SECONDS
        )

    @property
    def prefix(self) -> str:
        return str(self.hub_auth.base_url or "/")

    def token_from_request(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        match = self.hub_auth.auth_header_pat.match(header)
        if match:
            return str(match.group(1)).strip()
        return request.cookies.get(TOKEN_COOKIE) or None

    async def user_for_request(self, request: Request) -> HubUser:
        token = self.token_from_request(request)
        if token is None:
            if _wants_html(request):
                raise LoginRequired("Log in through the hub.", self.login_url(request))
            raise NotAuthenticated(
                "Authentication required: send 'Authorization: token <your hub API token>' "
                "(create one on the hub's Token page), or log in with a browser."
            )
        model = await self._model_for_token(token)
        if model is None:
            if _wants_html(request) and TOKEN_COOKIE in request.cookies:
                raise LoginRequired("Your session expired.", self.login_url(request))
            raise NotAuthenticated(
                "This token is not valid (unknown, expired or revoked). "
                "Create a new one on the hub's Token page."
            )
        if not self.hub_auth.check_scopes(self.hub_auth.access_scopes, model):
            raise Forbidden(
                "This token does not grant access to the DATAZENtr api. Use a token with the "
                "scope 'access:services!service=api' (tokens made on the hub's Token page with "
                "default scopes have it), or log in with a browser."
            )
        return HubUser.from_model(model)

    async def _model_for_token(self, token: str) -> dict[str, Any] | None:
        try:
            model: dict[str, Any] | None = await self.hub_auth.user_for_token(token, sync=False)
        except HTTPError as exc:
            log.warning("hub could not resolve a token: %s", exc)
            raise HubUnavailable(
                "The hub did not answer who this token belongs to; try again shortly."
            ) from exc
        return model

    def login_url(self, request: Request) -> str:
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{self.prefix}oauth/login?{urlencode({'next': next_url})}"


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")
