"""OAuth 2 as the platform's outside providers speak it: the authorization request (state and
PKCE S256, plus a nonce for OpenID Connect) and the code exchange.

The requests go out with httpx (the platform's HTTP client) and Authlib's PKCE helper.
Authlib's own httpx client is not used: in this venv it is built on ``httpx2`` (Authlib
prefers it when installed), whose errors are not httpx's.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from api.accounts.external.flow_state import FlowState
from api.accounts.external.identity import OutsideSignInFailed
from api.accounts.external.providers import OutsideProvider

log = logging.getLogger(__name__)

# A provider that takes longer than this is treated as down (the person may try again).
HTTP_TIMEOUT = httpx.Timeout(20.0)
USER_AGENT = "DATAZENtr-outside-sign-in"


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=HTTP_TIMEOUT,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


def unavailable(provider: OutsideProvider) -> OutsideSignInFailed:
    if provider.unavailable_message:
        return OutsideSignInFailed("unavailable", provider.unavailable_message)
    return OutsideSignInFailed(
        "unavailable",
        f"{provider.display_name} could not be reached or gave an answer we could not use. "
        "Try again in a few minutes; if it keeps failing, tell the platform's operator.",
    )


def refused(provider: OutsideProvider) -> OutsideSignInFailed:
    return OutsideSignInFailed(
        "refused",
        f"{provider.display_name} did not confirm who you are, so you are not signed in. "
        "Try again; if it keeps failing, tell the platform's operator.",
    )


def authorization_url(
    provider: OutsideProvider,
    endpoint: str,
    flow: FlowState,
    redirect_uri: str,
    *,
    with_nonce: bool,
) -> str:
    params = [
        ("response_type", "code"),
        ("client_id", provider.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", " ".join(provider.scopes)),
        ("state", flow.state),
        ("code_challenge", create_s256_code_challenge(flow.code_verifier)),
        ("code_challenge_method", "S256"),
    ]
    if with_nonce:
        params.append(("nonce", flow.nonce))
    result: str = add_params_to_uri(endpoint, params)
    return result


def _basic_auth(client_id: str, client_secret: str) -> str:
    # RFC 6749 2.3.1: both parts form-urlencoded before they are joined.
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def exchange_code(
    http: httpx.AsyncClient,
    provider: OutsideProvider,
    token_endpoint: str,
    *,
    code: str,
    flow: FlowState,
    redirect_uri: str,
    auth_method: str,
) -> dict[str, Any]:
    """The token response for ``code``. ``auth_method``: client_secret_basic or
    client_secret_post. A provider's ``error`` answer (GitHub sends it with status 200)
    is a refusal; no answer, or not JSON, is the provider being unavailable."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": flow.code_verifier,
    }
    headers = {}
    if auth_method == "client_secret_basic":
        headers["Authorization"] = _basic_auth(provider.client_id, provider.client_secret)
    else:
        form |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
    try:
        response = await http.post(token_endpoint, data=form, headers=headers)
    except httpx.HTTPError as exc:
        log.warning("%s token endpoint %s unreachable: %s", provider.name, token_endpoint, exc)
        raise unavailable(provider) from exc
    body = json_body(response)
    if body is None:
        log.warning(
            "%s token endpoint answered %s without JSON", provider.name, response.status_code
        )
        raise unavailable(provider)
    if "error" in body or response.status_code != 200 or not body.get("access_token"):
        log.warning(
            "%s refused the code: %s %s (%s)",
            provider.name,
            response.status_code,
            body.get("error"),
            body.get("error_description"),
        )
        raise refused(provider)
    return body


def json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def get_json(
    http: httpx.AsyncClient, provider: OutsideProvider, url: str, access_token: str
) -> Any:
    """A GET with the access token; anything but 200 with JSON is the provider failing."""
    try:
        response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        log.warning("%s: %s unreachable: %s", provider.name, url, exc)
        raise unavailable(provider) from exc
    if response.status_code != 200:
        log.warning("%s: %s answered %s", provider.name, url, response.status_code)
        raise refused(provider) if response.status_code in (401, 403) else unavailable(provider)
    try:
        return response.json()
    except ValueError:
        log.warning("%s: %s answered without JSON", provider.name, url)
        raise unavailable(provider) from None
