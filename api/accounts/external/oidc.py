"""Signing in with an OpenID Connect provider (Google, or one the operator configured):
discovery, the code exchange, the ID token verified, userinfo.

The ID token is accepted only after joserfc verified its signature with a key from the
provider's JWKS and Authlib's ``CodeIDToken`` checked issuer, audience, expiry, nonce and
``at_hash``; an ID token that fails any of these signs nobody in. Metadata and keys are
cached for a while; an unknown key id fetches the keys again once (providers rotate them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import is_secure_transport
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from api.accounts.external import oauth
from api.accounts.external.flow_state import FlowState
from api.accounts.external.identity import OutsideIdentity
from api.accounts.external.providers import OutsideProvider

log = logging.getLogger(__name__)

METADATA_MAX_AGE_SECONDS = 3600
# Clocks of the platform and the provider may differ this much.
CLOCK_LEEWAY_SECONDS = 120
# Signature algorithms accepted for ID tokens: public-key ones only.
ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


@dataclass
class _Provider:
    metadata: dict[str, Any]
    keys: KeySet | None
    fetched_at: float


# By discovery URL (the api keeps nothing else about providers in memory).
_cache: dict[str, _Provider] = {}


async def _metadata(http: httpx.AsyncClient, provider: OutsideProvider) -> _Provider:
    cached = _cache.get(provider.discovery_url)
    if cached and time.monotonic() - cached.fetched_at < METADATA_MAX_AGE_SECONDS:
        return cached
    try:
        response = await http.get(provider.discovery_url)
    except httpx.HTTPError as exc:
        log.warning("%s: discovery at %s failed: %s", provider.name, provider.discovery_url, exc)
        raise oauth.unavailable(provider) from exc
    metadata = oauth.json_body(response) if response.status_code == 200 else None
    problem = _metadata_problem(provider, metadata)
    if metadata is None or problem:
        log.warning(
            "%s: unusable discovery document at %s (%s): %s",
            provider.name,
            provider.discovery_url,
            response.status_code,
            problem or "not JSON",
        )
        raise oauth.unavailable(provider)
    entry = _Provider(metadata=metadata, keys=None, fetched_at=time.monotonic())
    _cache[provider.discovery_url] = entry
    return entry


def _metadata_problem(provider: OutsideProvider, metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return "not JSON"
    # OpenID Connect Discovery 4.3: the document must name the issuer it was fetched for.
    if str(metadata.get("issuer", "")).rstrip("/") != provider.issuer.rstrip("/"):
        return f"its issuer is {metadata.get('issuer')!r}, not {provider.issuer!r}"
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = metadata.get(endpoint)
        if not isinstance(value, str) or not is_secure_transport(value):
            return f"{endpoint} is missing or not https"
    return None


async def _keys(
    http: httpx.AsyncClient, provider: OutsideProvider, entry: _Provider, *, fresh: bool
) -> KeySet:
    if entry.keys is not None and not fresh:
        return entry.keys
    jwks_uri = str(entry.metadata["jwks_uri"])
    try:
        response = await http.get(jwks_uri)
        body = oauth.json_body(response) if response.status_code == 200 else None
        if body is None:
            raise ValueError(f"answered {response.status_code} without a key set")
        entry.keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
    except (httpx.HTTPError, ValueError, JoseError) as exc:
        log.warning("%s: keys at %s unusable: %s", provider.name, jwks_uri, exc)
        raise oauth.unavailable(provider) from exc
    return entry.keys


async def authorize_url(provider: OutsideProvider, flow: FlowState, redirect_uri: str) -> str:
    async with oauth.http_client() as http:
        entry = await _metadata(http, provider)
    return oauth.authorization_url(
        provider,
        str(entry.metadata["authorization_endpoint"]),
        flow,
        redirect_uri,
        with_nonce=True,
    )


def _auth_method(metadata: dict[str, Any]) -> str:
    # Discovery's default is client_secret_basic; use post only where basic is not offered.
    supported = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in supported or "client_secret_post" not in supported:
        return "client_secret_basic"
    return "client_secret_post"


async def identity(
    provider: OutsideProvider, *, code: str, flow: FlowState, redirect_uri: str
) -> OutsideIdentity:
    async with oauth.http_client() as http:
        entry = await _metadata(http, provider)
        token = await oauth.exchange_code(
            http,
            provider,
            str(entry.metadata["token_endpoint"]),
            code=code,
            flow=flow,
            redirect_uri=redirect_uri,
            auth_method=_auth_method(entry.metadata),
        )
        access_token = str(token["access_token"])
        claims = await _verified_id_token(http, provider, entry, token, flow, access_token)
        userinfo_endpoint = entry.metadata.get("userinfo_endpoint")
        if isinstance(userinfo_endpoint, str) and is_secure_transport(userinfo_endpoint):
            userinfo = await oauth.get_json(http, provider, userinfo_endpoint, access_token)
            # OpenID Connect Core 5.3.2: userinfo about someone else must not be used.
            if isinstance(userinfo, dict) and userinfo.get("sub") == claims["sub"]:
                claims = _with_userinfo(claims, userinfo)
            else:
                log.warning("%s: userinfo names another subject; ignored", provider.name)
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    # Only an explicit yes verifies (some providers send the string "true").
    verified = bool(email) and claims.get("email_verified") in (True, "true")
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    return OutsideIdentity(
        provider=provider.name,
        subject=str(claims["sub"]),
        email=email,
        email_verified=verified,
        name=name,
        label=email or name or str(claims["sub"]),
    )


def _with_userinfo(claims: dict[str, Any], userinfo: dict[str, Any]) -> dict[str, Any]:
    """The ID token's claims, with what it left out taken from userinfo (an address's
    verification only for the same address)."""
    merged = {**userinfo, **claims}
    if "email" in claims and userinfo.get("email") != claims["email"]:
        merged.pop("email_verified", None)
        if "email_verified" in claims:
            merged["email_verified"] = claims["email_verified"]
    return merged


async def _verified_id_token(
    http: httpx.AsyncClient,
    provider: OutsideProvider,
    entry: _Provider,
    token: dict[str, Any],
    flow: FlowState,
    access_token: str,
) -> dict[str, Any]:
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        log.warning("%s: the token response has no id_token", provider.name)
        raise oauth.refused(provider)
    offered = entry.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [alg for alg in offered if alg in ACCEPTED_ALGORITHMS] or ["RS256"]
    decoded = None
    for fresh in (False, True):
        keys = await _keys(http, provider, entry, fresh=fresh)
        try:
            decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            break
        except JoseError as exc:
            log.warning(
                "%s: ID token signature refused (%s keys): %s",
                provider.name,
                "new" if fresh else "cached",
                exc,
            )
    if decoded is None:
        raise oauth.refused(provider)
    issuers = [str(entry.metadata["issuer"]), *provider.issuer_aliases]
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {
            "iss": {"essential": True, "values": issuers},
            "aud": {"essential": True, "values": [provider.client_id]},
            "sub": {"essential": True},
        },
        {"nonce": flow.nonce, "client_id": provider.client_id, "access_token": access_token},
    )
    try:
        claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
    except JoseError as exc:
        log.warning("%s: ID token refused: %s", provider.name, exc)
        raise oauth.refused(provider) from exc
    result: dict[str, Any] = dict(claims)
    return result
