"""The provider's signing keys: RS256, stored encrypted in the database and shared by every
api process; the newest unretired key signs, every unretired key is published (JWKS)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.models.oidc import OAuthSigningKey

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_BITS = 2048
# Two api processes starting at once must not each create a key.
_CREATE_LOCK = 0x0D2E_0001


@dataclass(frozen=True)
class SigningKeys:
    """The key that signs now, and every key a client may still see in a token."""

    current: RSAKey
    published: tuple[RSAKey, ...]

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.published)).as_dict(private=False))


def fernet_for(secret_key: str, purpose: str) -> Fernet:
    """A Fernet key derived from the platform's secret key for one ``purpose``: secrets kept
    for one purpose cannot be read with another's key."""
    digest = hashlib.sha256(f"{purpose}:".encode() + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _fernet(secret_key: str) -> Fernet:
    return fernet_for(secret_key, "datazentr-oidc-signing-key")


def _new_key() -> RSAKey:
    key = RSAKey.generate_key(KEY_BITS, parameters={"use": "sig", "alg": ALGORITHM}, private=True)
    # The RFC 7638 thumbprint names the key: stable, and distinct for distinct keys.
    return RSAKey.import_key(key.as_dict(private=True) | {"kid": key.thumbprint()})


def _decrypt(row: OAuthSigningKey, fernet: Fernet) -> RSAKey | None:
    try:
        data = json.loads(fernet.decrypt(row.encrypted_private_jwk.encode()))
    except InvalidToken:
        return None
    return RSAKey.import_key(data)


async def load_signing_keys(session: AsyncSession, secret_key: str) -> SigningKeys:
    """The unretired keys, creating the first one if there is none. A key encrypted under
    another secret key (the api's secret changed) cannot be used: it is retired and a new
    one made. Commits."""
    fernet = _fernet(secret_key)
    await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _CREATE_LOCK})
    rows = (
        await session.scalars(
            select(OAuthSigningKey)
            .where(OAuthSigningKey.retired_at.is_(None))
            .order_by(OAuthSigningKey.created_at.desc())
        )
    ).all()
    keys: list[RSAKey] = []
    for row in rows:
        key = _decrypt(row, fernet)
        if key is None:
            log.warning("signing key %s was encrypted with another secret key: retired", row.kid)
            await session.execute(
                update(OAuthSigningKey)
                .where(OAuthSigningKey.kid == row.kid)
                .values(retired_at=datetime.now(UTC))
            )
        else:
            keys.append(key)
    if not keys:
        key = _new_key()
        session.add(
            OAuthSigningKey(
                kid=key.kid,
                algorithm=ALGORITHM,
                encrypted_private_jwk=fernet.encrypt(
                    json.dumps(key.as_dict(private=True)).encode()
                ).decode(),
            )
        )
        log.info("created the provider's signing key %s", key.kid)
        keys.append(key)
    await session.commit()
    return SigningKeys(current=keys[0], published=tuple(keys))
