"""The provider's code flow as the hub runs it: PKCE required of every client, codes used
once, id_tokens a relying party can verify, userinfo, refresh tokens that rotate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import update

from api.accounts.sessions import SIGN_IN_PATH
from api.core.config import Settings
from api.core.db import Database
from api.identity.hub_client import HUB_CLIENT_ID, hub_client_secret, hub_redirect_uri
from api.models.account import Account
from tests.support.accounts import create_account
from tests.support.api import in_process_api
from tests.support.broker import (
    hub_authorize_params,
    pkce_pair,
    query_of,
    signed_in_cookie,
    verified_id_token,
)

ISSUER = "http://127.0.0.1:8000/services/api"


async def _code_for(
    broker: httpx.AsyncClient, settings: Settings, cookie: str, challenge: str, **extra: str
) -> str:
    params = hub_authorize_params(settings, challenge, **extra)
    response = await broker.get("/oauth2/authorize", params=params, headers={"Cookie": cookie})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(hub_redirect_uri(settings) + "?")
    query = query_of(location)
    assert query["state"] == params["state"]
    return query["code"]


async def _redeem(
    broker: httpx.AsyncClient, settings: Settings, code: str, verifier: str | None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": hub_redirect_uri(settings),
        "client_id": HUB_CLIENT_ID,
        "client_secret": hub_client_secret(settings),
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return await broker.post("/oauth2/token", data=form)


async def _refresh(
    broker: httpx.AsyncClient, settings: Settings, refresh_token: str
) -> httpx.Response:
    return await broker.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": HUB_CLIENT_ID,
            "client_secret": hub_client_secret(settings),
        },
    )


async def _tokens_for(
    broker: httpx.AsyncClient, settings: Settings, database: Database, account: Account
) -> dict[str, Any]:
    cookie = await signed_in_cookie(settings, database, account)
    verifier, challenge = pkce_pair()
    code = await _code_for(broker, settings, cookie, challenge)
    response = await _redeem(broker, settings, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def _userinfo(broker: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await broker.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def test_discovery_names_the_endpoints_and_the_keys_are_public_only(
    broker: httpx.AsyncClient,
) -> None:
    meta = (await broker.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"
    assert meta["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert meta["userinfo_endpoint"] == f"{ISSUER}/oauth2/userinfo"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = (await broker.get("/oauth2/jwks")).json()
    assert jwks["keys"], jwks
    for key in jwks["keys"]:
        assert key["kty"] == "RSA" and key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parts published"


async def test_a_signed_out_browser_is_sent_to_sign_in_and_back(
    broker: httpx.AsyncClient, broker_settings: Settings
) -> None:
    _, challenge = pkce_pair()
    response = await broker.get(
        "/oauth2/authorize", params=hub_authorize_params(broker_settings, challenge)
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(SIGN_IN_PATH + "?")
    back = query_of(location)["next"]
    assert back.startswith("/services/api/oauth2/authorize?")
    assert query_of(back)["code_challenge"] == challenge


async def test_the_hub_gets_tokens_and_an_id_token_it_can_verify(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database, role="platform_admin", display_name="Ada L")
    tokens = await _tokens_for(broker, broker_settings, broker_database, account)
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["access_token"] and tokens["refresh_token"] and tokens["expires_in"] > 0

    jwks = (await broker.get("/oauth2/jwks")).json()
    header, claims = verified_id_token(
        tokens["id_token"], jwks, issuer=ISSUER, audience=HUB_CLIENT_ID
    )
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert claims["sub"] == str(account.id)
    assert claims["preferred_username"] == account.username
    assert claims["name"] == "Ada L"
    assert claims["email"] == account.email and claims["email_verified"] is True
    assert claims["groups"] == ["platform-admins"]
    assert "at_hash" in claims and claims["auth_time"] <= claims["iat"]

    info = await _userinfo(broker, tokens["access_token"])
    assert info.status_code == 200 and info.headers["cache-control"] == "no-store"
    assert info.json() == {
        "sub": str(account.id),
        "name": "Ada L",
        "preferred_username": account.username,
        "email": account.email,
        "email_verified": True,
        "groups": ["platform-admins"],
    }


async def test_pkce_is_required_of_the_hub_too(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database)
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    _, challenge = pkce_pair()
    params = hub_authorize_params(broker_settings, challenge)

    # Refused before any code exists, and told to the client (its redirect_uri is valid).
    for changed in (
        {k: v for k, v in params.items() if not k.startswith("code_challenge")},
        params | {"code_challenge_method": "plain"},
    ):
        response = await broker.get("/oauth2/authorize", params=changed, headers={"Cookie": cookie})
        assert response.status_code == 302
        assert response.headers["location"].startswith(hub_redirect_uri(broker_settings))
        query = query_of(response.headers["location"])
        assert query["error"] == "invalid_request", query
        assert "code" not in query and query["state"] == params["state"]

    # A code bound to a challenge needs its verifier: none, or another's, is refused.
    verifier, challenge = pkce_pair()
    code = await _code_for(broker, broker_settings, cookie, challenge)
    missing = await _redeem(broker, broker_settings, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    other_verifier, _ = pkce_pair()
    wrong = await _redeem(broker, broker_settings, code, other_verifier)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert (await _redeem(broker, broker_settings, code, verifier)).status_code == 200


async def test_a_code_is_redeemed_once_even_when_raced(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database)
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    verifier, challenge = pkce_pair()
    code = await _code_for(broker, broker_settings, cookie, challenge)
    answers = await asyncio.gather(
        *(_redeem(broker, broker_settings, code, verifier) for _ in range(3))
    )
    assert sorted(a.status_code for a in answers) == [200, 400, 400]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
    again = await _redeem(broker, broker_settings, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_replayed_code_revokes_every_token_it_gave(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    """RFC 6749 §4.1.2: a code used twice was stolen; what it issued (and the refreshed
    tokens since) stops working, while another sign-in's tokens keep working."""
    account = await create_account(broker_database)
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    verifier, challenge = pkce_pair()
    code = await _code_for(broker, broker_settings, cookie, challenge)
    first = await _redeem(broker, broker_settings, code, verifier)
    assert first.status_code == 200, first.text
    refreshed = await _refresh(broker, broker_settings, first.json()["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    other = await _tokens_for(broker, broker_settings, broker_database, account)
    assert (await _userinfo(broker, refreshed.json()["access_token"])).status_code == 200

    replay = await _redeem(broker, broker_settings, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert (await _userinfo(broker, refreshed.json()["access_token"])).status_code == 401
    stale = await _refresh(broker, broker_settings, refreshed.json()["refresh_token"])
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
    assert (await _userinfo(broker, other["access_token"])).status_code == 200


async def test_refresh_rotates_and_the_old_pair_stops_working(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database, role="student")
    first = await _tokens_for(broker, broker_settings, broker_database, account)
    response = await _refresh(broker, broker_settings, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    info = await _userinfo(broker, second["access_token"])
    assert info.status_code == 200 and info.json()["groups"] == ["students"]

    assert (await _userinfo(broker, first["access_token"])).status_code == 401
    reused = await _refresh(broker, broker_settings, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


async def test_a_disabled_account_loses_userinfo_and_refresh(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database)
    tokens = await _tokens_for(broker, broker_settings, broker_database, account)
    async with broker_database.sessionmaker() as session:
        await session.execute(
            update(Account).where(Account.id == account.id).values(disabled_at=datetime.now(UTC))
        )
        await session.commit()
    info = await _userinfo(broker, tokens["access_token"])
    assert info.status_code == 401
    assert info.headers["www-authenticate"].startswith("Bearer")
    refreshed = await _refresh(broker, broker_settings, tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


async def test_wrong_client_secret_and_foreign_redirect_are_refused(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database)
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    verifier, challenge = pkce_pair()
    code = await _code_for(broker, broker_settings, cookie, challenge)
    response = await broker.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": hub_redirect_uri(broker_settings),
            "client_id": HUB_CLIENT_ID,
            "client_secret": "not-the-secret",
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    # The code survived the failed attempt: the real hub still redeems it.
    assert (await _redeem(broker, broker_settings, code, verifier)).status_code == 200

    # A redirect_uri that is not the hub's is never redirected to (no open redirect).
    params = hub_authorize_params(
        broker_settings, challenge, redirect_uri="https://elsewhere.example/cb"
    )
    foreign = await broker.get("/oauth2/authorize", params=params, headers={"Cookie": cookie})
    assert foreign.status_code == 400 and "location" not in foreign.headers


async def test_userinfo_without_a_valid_bearer_token_is_401(broker: httpx.AsyncClient) -> None:
    assert (await broker.get("/oauth2/userinfo")).status_code == 401
    assert (await _userinfo(broker, "made-up-token")).status_code == 401


async def test_logout_ends_the_session_and_stays_on_the_platform(
    broker: httpx.AsyncClient, broker_settings: Settings, broker_database: Database
) -> None:
    account = await create_account(broker_database)
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    out = await broker.get(
        "/oauth2/logout",
        params={"post_logout_redirect_uri": "https://elsewhere.example/"},
        headers={"Cookie": cookie},
    )
    assert out.status_code == 303
    assert out.headers["location"].startswith(SIGN_IN_PATH)
    _, challenge = pkce_pair()
    after = await broker.get(
        "/oauth2/authorize",
        params=hub_authorize_params(broker_settings, challenge),
        headers={"Cookie": cookie},
    )
    assert after.status_code == 303 and after.headers["location"].startswith(SIGN_IN_PATH)

    # A platform page named by the client is where the browser goes afterwards.
    cookie = await signed_in_cookie(broker_settings, broker_database, account)
    out = await broker.get(
        "/oauth2/logout",
        params={"post_logout_redirect_uri": "/hub/home"},
        headers={"Cookie": cookie},
    )
    assert out.status_code == 303 and out.headers["location"] == "/hub/home"


async def test_with_native_sign_in_the_provider_is_off(broker_settings: Settings) -> None:
    native = broker_settings.model_copy(update={"authenticator": "native"})
    async with in_process_api(native) as client:
        response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 404
    assert "DATAZENTR_AUTHENTICATOR=platform" in response.json()["error"]["message"]


async def test_malformed_requests_get_oauth_errors_not_server_errors(
    broker: httpx.AsyncClient, broker_settings: Settings
) -> None:
    _, challenge = pkce_pair()
    params = hub_authorize_params(broker_settings, challenge)
    for query in (
        {},
        {"client_id": "nobody"},
        params | {"client_id": "nobody"},
        params | {"response_type": "token"},
        params | {"scope": "admin"},
    ):
        response = await broker.get("/oauth2/authorize", params=query)
        assert 300 <= response.status_code < 500, (query, response.text)
    for form in (
        {},
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "authorization_code", "code": "made-up"},
        {"grant_type": "refresh_token", "refresh_token": "made-up"},
    ):
        response = await broker.post("/oauth2/token", data=form)
        assert 400 <= response.status_code < 500, (form, response.text)
        assert "error" in response.json()
    as_json = await broker.post("/oauth2/token", json={"grant_type": "authorization_code"})
    assert 400 <= as_json.status_code < 500
