"""With the platform's own sign-in, an account starts a server only once its e-mail
address is verified; the hub's quota service is told why, in words a person can act on."""

from __future__ import annotations

import httpx

from api.auth import HubUser
from api.core.config import Settings
from api.core.db import Database
from api.core.names import QUOTA_SERVICE
from tests.support.accounts import create_account
from tests.support.api import in_process_api
from tests.support.identity import AnyUserIdentity, as_user, fresh_user

QUOTA = AnyUserIdentity({QUOTA_SERVICE: HubUser(name=QUOTA_SERVICE, admin=False, kind="service")})


async def _policy(client: httpx.AsyncClient, user: str) -> dict[str, object]:
    response = await client.post(
        "/internal/spawn-policy", json={"user": user}, headers=as_user(QUOTA_SERVICE)
    )
    assert response.status_code == 200, response.text
    policy: dict[str, object] = response.json()
    return policy


async def test_an_unverified_account_is_refused_with_what_to_do(
    broker_settings: Settings, broker_database: Database
) -> None:
    unverified = await create_account(broker_database, verified=False)
    verified = await create_account(broker_database)
    async with in_process_api(broker_settings, identity=QUOTA) as client:
        refused = await _policy(client, unverified.username)
        allowed = await _policy(client, verified.username)
        hub_only = await _policy(client, fresh_user())
    assert refused["allowed"] is False
    message = str(refused["message"])
    assert "Verify your e-mail address" in message and str(unverified.email) in message
    assert "http://127.0.0.1:8000/services/api/accounts/verify/resend" in message
    assert allowed["allowed"] is True and allowed["message"] == ""
    # Someone an admin made on the hub itself has no account, so no address to verify.
    assert hub_only["allowed"] is True


async def test_with_native_sign_in_verification_is_not_asked(
    broker_settings: Settings, broker_database: Database
) -> None:
    unverified = await create_account(broker_database, verified=False)
    native = broker_settings.model_copy(update={"authenticator": "native"})
    async with in_process_api(native, identity=QUOTA) as client:
        policy = await _policy(client, unverified.username)
    assert policy["allowed"] is True
