"""The platform's OpenID Connect provider as its clients use it: a signed-in browser's
cookie, PKCE pairs, the hub's authorize request, and checking an id_token as a relying
party must (signature against the provider's JWKS, issuer, audience)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization
from starlette.requests import Request
from starlette.responses import Response

from api.accounts.sessions import SESSION_COOKIE, start_session
from api.core.config import Settings
from api.core.db import Database
from api.identity.hub_client import HUB_CLIENT_ID, HUB_SCOPES, hub_redirect_uri
from api.models.account import Account


def pkce_pair() -> tuple[str, str]:
    """A code_verifier and its S256 code_challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def hub_authorize_params(settings: Settings, challenge: str, **extra: str) -> dict[str, str]:
    """The query the hub's GenericOAuthenticator sends the browser to /oauth2/authorize with."""
    return {
        "client_id": HUB_CLIENT_ID,
        "redirect_uri": hub_redirect_uri(settings),
        "response_type": "code",
        "scope": " ".join(HUB_SCOPES),
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


async def signed_in_cookie(settings: Settings, database: Database, account: Account) -> str:
    """The session cookie of a browser that signed in as ``account`` (as the sign-in page
    does it: ``start_session``), as a ``Cookie`` header value."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"user-agent", b"tests")],
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "app": SimpleNamespace(state=SimpleNamespace(settings=settings)),
    }
    response = Response()
    async with database.sessionmaker() as session:
        await start_session(Request(scope), response, session, account, "password")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return f"{SESSION_COOKIE}={cookie[SESSION_COOKIE].value}"


def query_of(location: str) -> dict[str, str]:
    """The single-valued query parameters of a redirect's Location."""
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def verified_id_token(
    id_token: str, jwks: dict[str, Any], *, issuer: str, audience: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of an id_token whose signature the JWKS proves, whose issuer and
    audience are the expected ones, and that has not expired."""
    keys = KeySet.import_key_set(cast(KeySetSerialization, jwks))
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    ).validate(token.claims)
    return dict(token.header), dict(token.claims)
