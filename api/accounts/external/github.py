"""Signing in with GitHub: OAuth 2 (no OpenID Connect), the person from ``GET /user``, their
address from ``GET /user/emails``.

An identity is GitHub's numeric user id (a login can be renamed and then taken by someone
else). Only the primary address GitHub marks verified counts as verified.
"""

from __future__ import annotations

import logging
from typing import Any

from api.accounts.external import oauth
from api.accounts.external.flow_state import FlowState
from api.accounts.external.identity import OutsideIdentity
from api.accounts.external.providers import OutsideProvider

log = logging.getLogger(__name__)

# The REST API version whose response shapes this module reads.
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def authorize_url(provider: OutsideProvider, flow: FlowState, redirect_uri: str) -> str:
    return oauth.authorization_url(
        provider,
        f"{provider.web_url}/login/oauth/authorize",
        flow,
        redirect_uri,
        with_nonce=False,
    )


async def identity(
    provider: OutsideProvider, *, code: str, flow: FlowState, redirect_uri: str
) -> OutsideIdentity:
    async with oauth.http_client() as http:
        http.headers.update(API_HEADERS)
        token = await oauth.exchange_code(
            http,
            provider,
            f"{provider.web_url}/login/oauth/access_token",
            code=code,
            flow=flow,
            redirect_uri=redirect_uri,
            auth_method="client_secret_post",
        )
        access_token = str(token["access_token"])
        user = await oauth.get_json(http, provider, f"{provider.api_url}/user", access_token)
        emails = await oauth.get_json(
            http, provider, f"{provider.api_url}/user/emails", access_token
        )
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        log.warning("github: /user answered without a numeric id")
        raise oauth.unavailable(provider)
    email, verified = _primary_email(emails)
    login = str(user.get("login") or user["id"])
    return OutsideIdentity(
        provider=provider.name,
        subject=str(user["id"]),
        email=email,
        email_verified=verified,
        name=str(user["name"]) if user.get("name") else None,
        label=login,
    )


def _primary_email(emails: Any) -> tuple[str | None, bool]:
    """The primary address and whether GitHub verified it (None without a primary)."""
    if not isinstance(emails, list):
        return None, False
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") and isinstance(entry.get("email"), str):
            return entry["email"], entry.get("verified") is True
    return None, False
