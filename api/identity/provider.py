"""The provider as one object: Authlib's server with the platform's grants, the signing
keys, the discovery document; built once per api process, at start or, if the database
could not be reached then, at the first sign-in that needs it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oidc.discovery import OpenIDProviderMetadata
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.core.db import Database
from api.identity.grants import (
    ACCESS_TOKEN_SECONDS,
    REFRESH_TOKEN_LIFETIME,
    TOKEN_AUTH_METHODS,
    CodeGrant,
    PlatformOpenIDCode,
    RefreshGrant,
    RequireS256,
    code_of,
    digest,
    find_client,
    now,
)
from api.identity.hub_client import (
    HUB_CLIENT_ID,
    HUB_SCOPES,
    check_issuer,
    hub_client_secret,
    hub_redirect_uri,
)
from api.identity.keys import ALGORITHM, SigningKeys, load_signing_keys
from api.identity.server import StarletteAuthorizationServer, db
from api.models.oidc import OAuthClient, OAuthToken

log = logging.getLogger(__name__)

# Long random values (48 characters of [A-Za-z0-9]): unguessable, so SHA-256 storage suffices.
TOKEN_LENGTH = 48
CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "groups",
]


class PlatformAuthorizationServer(StarletteAuthorizationServer):
    def query_client(self, client_id: str) -> Any:
        return find_client(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        issued = now()
        refresh_token = token.get("refresh_token")
        session = db()
        session.add(
            OAuthToken(
                access_token_hash=digest(token["access_token"]),
                refresh_token_hash=digest(refresh_token) if refresh_token else None,
                client_id=request.client.get_client_id(),
                account_id=request.user.id,
                scope=token.get("scope", ""),
                issued_at=issued,
                access_expires_at=issued + timedelta(seconds=int(token["expires_in"])),
                refresh_expires_at=issued + REFRESH_TOKEN_LIFETIME if refresh_token else None,
                code_hash=code_of(request),
            )
        )
        session.flush()


@dataclass
class IdentityProvider:
    issuer: str
    server: PlatformAuthorizationServer
    keys: SigningKeys
    metadata: dict[str, Any]


def discovery_document(issuer_url: str) -> dict[str, Any]:
    metadata = OpenIDProviderMetadata(
        issuer=issuer_url,
        authorization_endpoint=f"{issuer_url}/oauth2/authorize",
        token_endpoint=f"{issuer_url}/oauth2/token",
        userinfo_endpoint=f"{issuer_url}/oauth2/userinfo",
        jwks_uri=f"{issuer_url}/oauth2/jwks",
        end_session_endpoint=f"{issuer_url}/oauth2/logout",
        scopes_supported=list(HUB_SCOPES),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=[ALGORITHM],
        token_endpoint_auth_methods_supported=TOKEN_AUTH_METHODS,
        code_challenge_methods_supported=["S256"],
        claims_supported=CLAIMS_SUPPORTED,
    )
    metadata.validate()
    return dict(metadata)


async def register_hub_client(session: AsyncSession, settings: Settings) -> None:
    """The hub's client, as the settings say now (secret and callback may have changed)."""
    values = {
        "secret_hash": digest(hub_client_secret(settings)),
        "redirect_uris": [hub_redirect_uri(settings)],
        "scope": " ".join(HUB_SCOPES),
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods": TOKEN_AUTH_METHODS,
    }
    statement = insert(OAuthClient).values(client_id=HUB_CLIENT_ID, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[OAuthClient.client_id], set_=values | {"updated_at": now()}
        )
    )
    await session.commit()


def build_server(issuer_url: str, keys: SigningKeys) -> PlatformAuthorizationServer:
    server = PlatformAuthorizationServer(scopes_supported=list(HUB_SCOPES))
    server.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda **_: generate_token(TOKEN_LENGTH),
            refresh_token_generator=lambda **_: generate_token(TOKEN_LENGTH),
            expires_generator=lambda client, grant_type: ACCESS_TOKEN_SECONDS,
        ),
    )
    server.register_grant(CodeGrant, [RequireS256(), PlatformOpenIDCode(issuer_url, keys)])
    server.register_grant(RefreshGrant)
    return server


async def start_provider(settings: Settings, database: Database) -> IdentityProvider:
    """The provider of this api process: the hub registered, the signing keys loaded."""
    issuer_url = check_issuer(settings)
    metadata = discovery_document(issuer_url)
    async with database.sessionmaker() as session:
        await register_hub_client(session, settings)
        keys = await load_signing_keys(session, settings.api_secret_key())
    log.info("OpenID Connect provider at %s (signing key %s)", issuer_url, keys.current.kid)
    return IdentityProvider(issuer_url, build_server(issuer_url, keys), keys, metadata)


class ProviderStarter:
    """Starts the provider once. An api whose database is down at start still starts (its
    health check says so); the provider then starts with the first request that needs it."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._settings = settings
        self._database = database
        self._provider: IdentityProvider | None = None
        self._lock = asyncio.Lock()

    async def provider(self) -> IdentityProvider:
        """The provider; ``OperationalError`` while the database cannot be reached."""
        async with self._lock:
            if self._provider is None:
                self._provider = await start_provider(self._settings, self._database)
            return self._provider

    async def try_start(self) -> None:
        try:
            await self.provider()
        except OperationalError as exc:
            log.warning("OpenID Connect provider not started yet (database: %s)", exc.orig)
