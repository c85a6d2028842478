"""The provider's signing keys: one key for every api process, stored encrypted, replaced
when the api's secret key changes."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from api.core import migrate
from api.core.db import Database
from api.identity.keys import SigningKeys, load_signing_keys
from api.models.oidc import OAuthSigningKey

SECRET = "a" * 16 + "b" * 16 + "c" * 16
OTHER_SECRET = "x" * 48


async def _load(database: Database, secret: str) -> SigningKeys:
    async with database.sessionmaker() as session:
        return await load_signing_keys(session, secret)


async def test_every_process_signs_with_the_one_stored_key(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    database = Database(scratch_database_url)
    try:
        # Two api processes starting at once make one key between them.
        first, second = await asyncio.gather(_load(database, SECRET), _load(database, SECRET))
        assert first.current.kid == second.current.kid
        assert (await _load(database, SECRET)).current.kid == first.current.kid
        async with database.sessionmaker() as session:
            rows = (await session.scalars(select(OAuthSigningKey))).all()
        assert [row.kid for row in rows] == [first.current.kid]
        # Stored encrypted: the private exponent is nowhere in the clear.
        private_d = str(first.current.as_dict(private=True)["d"])
        assert private_d not in rows[0].encrypted_private_jwk
        assert '"d"' not in rows[0].encrypted_private_jwk
        published = first.jwks()["keys"]
        assert [key["kid"] for key in published] == [first.current.kid]
        assert "d" not in published[0]
    finally:
        await database.dispose()


async def test_a_new_secret_key_retires_the_key_it_cannot_read(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    database = Database(scratch_database_url)
    try:
        old = await _load(database, SECRET)
        new = await _load(database, OTHER_SECRET)
        assert new.current.kid != old.current.kid
        async with database.sessionmaker() as session:
            retired = await session.get(OAuthSigningKey, old.current.kid)
        assert retired is not None and retired.retired_at is not None
        assert [key["kid"] for key in new.jwks()["keys"]] == [new.current.kid]
    finally:
        await database.dispose()
