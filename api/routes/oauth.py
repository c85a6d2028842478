"""Browser login through the hub's OAuth provider (authorization code + PKCE)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from tornado.web import HTTPError

from api.auth import STATE_COOKIE, TOKEN_COOKIE
from api.deps import IdentityDep, SettingsDep
from api.errors import BadRequest, HubUnavailable
from api.signing import BadSignature, sign, unsign

router = APIRouter(tags=["login"])

STATE_MAX_AGE_SECONDS = 600
_STATE_PURPOSE = "oauth-state"


def _safe_next(next_url: str | None, prefix: str) -> str:
    """Only redirect back into this service: never to another site (open redirect)."""
    if next_url and next_url.startswith(prefix) and not next_url.startswith("//"):
        return next_url
    return f"{prefix}me"


@router.get("/oauth/login", include_in_schema=False)
async def oauth_login(
    request: Request,
    identity: IdentityDep,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> RedirectResponse:
    hub_auth = identity.hub_auth
    state = secrets.token_urlsafe(24)
    verifier, challenge, method = hub_auth.generate_pkce_code_challenge()
    cookie = sign(
        {"state": state, "next": _safe_next(next, identity.prefix), "verifier": verifier},
        settings.api_secret_key(),
        purpose=_STATE_PURPOSE,
    )
    params = {
        "client_id": hub_auth.oauth_client_id,
        "redirect_uri": hub_auth.oauth_redirect_uri,
        "response_type": "code",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": method,
    }
    response = RedirectResponse(f"{hub_auth.oauth_authorization_url}?{urlencode(params)}", 302)
    response.set_cookie(
        STATE_COOKIE,
        cookie,
        max_age=STATE_MAX_AGE_SECONDS,
        path=identity.prefix,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/oauth_callback", include_in_schema=False)
async def oauth_callback(
    request: Request,
    identity: IdentityDep,
    settings: SettingsDep,
    code: Annotated[str, Query(max_length=500)],
    state: Annotated[str, Query(max_length=500)],
) -> RedirectResponse:
    try:
        saved = unsign(
            request.cookies.get(STATE_COOKIE, ""),
            settings.api_secret_key(),
            purpose=_STATE_PURPOSE,
            max_age_seconds=STATE_MAX_AGE_SECONDS,
        )
    except BadSignature:
        raise BadRequest(
            "This login link is stale or was opened in another browser. Start again from "
            f"{identity.prefix}oauth/login."
        ) from None
    if not secrets.compare_digest(str(saved.get("state", "")), state):
        raise BadRequest("The login state does not match; start the login again.")
    try:
        token = await identity.hub_auth.token_for_code(
            code, code_verifier=saved.get("verifier"), sync=False
        )
    except HTTPError as exc:
        raise HubUnavailable("The hub refused or failed the login; start again.") from exc
    response = RedirectResponse(_safe_next(saved.get("next"), identity.prefix), 302)
    response.delete_cookie(STATE_COOKIE, path=identity.prefix)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        path=identity.prefix,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/logout", include_in_schema=False)
async def logout(identity: IdentityDep) -> RedirectResponse:
    response = RedirectResponse("/hub/logout", 302)
    response.delete_cookie(TOKEN_COOKIE, path=identity.prefix)
    return response
