"""JupyterHub's GenericOAuthenticator, configured as the platform configures the hub,
against the api served for real: the sign-in, the hub user it makes, and refreshing it
(userinfo while the access token lasts, the refresh grant after)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import OAuthLoginHandler, _serialize_state
from sqlalchemy import update
from traitlets.config import Config

from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.models.oidc import OAuthToken
from hub.authenticators import configure_platform
from tests.support.accounts import create_account
from tests.support.asgi import serve_app
from tests.support.broker import query_of, signed_in_cookie
from tests.support.identity import AnyUserIdentity
from tests.support.network import free_port


@pytest.fixture(scope="module")
def served(
    broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The api on a loopback port that is also its public address (as on one machine)."""
    port = free_port()
    settings = broker_settings.model_copy(
        update={"public_url": f"http://127.0.0.1:{port}", "api_port": port}
    )
    with serve_app(create_app(settings, identity=AnyUserIdentity()), lifespan=True, port=port):
        yield settings


class CallbackHandler:
    """What the hub's OAuthCallbackHandler hands the authenticator: the code, the state
    cookie (holding the PKCE verifier)."""

    def __init__(self, code: str, state_cookie: str) -> None:
        self.code = code
        self.state_cookie = state_cookie

    def get_argument(self, name: str, default: str | None = None) -> str | None:
        return self.code if name == "code" else default

    def get_state_cookie(self) -> str:
        return self.state_cookie


class HubUserWithState:
    def __init__(self, name: str, auth_state: dict[str, Any]) -> None:
        self.name = name
        self.auth_state = auth_state

    async def get_auth_state(self) -> dict[str, Any]:
        return self.auth_state


def hub_authenticator(settings: Settings) -> GenericOAuthenticator:
    c = Config()
    configure_platform(settings, c)
    return GenericOAuthenticator(config=c)


async def sign_in(settings: Settings, authenticator: GenericOAuthenticator, cookie: str) -> Any:
    """The hub's login handler's redirect, the browser at the provider, the callback."""
    verifier, challenge = OAuthLoginHandler._generate_pkce_params(None)
    state = _serialize_state({"state_id": "s1"})
    params = {
        "redirect_uri": authenticator.get_callback_url(None),
        "client_id": authenticator.client_id,
        "response_type": "code",
        "scope": " ".join(authenticator.scope),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
    }
    async with httpx.AsyncClient() as browser:
        response = await browser.get(
            authenticator.authorize_url, params=params, headers={"Cookie": cookie}
        )
    assert response.status_code == 302, response.text
    code = query_of(response.headers["location"])["code"]
    state_cookie = _serialize_state({"state_id": "s1", "code_verifier": verifier})
    return await authenticator.get_authenticated_user(CallbackHandler(code, state_cookie), None)


async def test_the_hub_user_is_the_account(served: Settings) -> None:
    database = Database(served.sqlalchemy_url)
    try:
        account = await create_account(database, role="platform_admin")
        cookie = await signed_in_cookie(served, database, account)
        authenticator = hub_authenticator(served)
        model = await sign_in(served, authenticator, cookie)
        assert model["name"] == account.username
        assert model["admin"] is True
        assert model["groups"] == ["platform-admins"]
        state = model["auth_state"]
        assert state["oauth_user"]["email"] == account.email
        assert state["access_token"] and state["refresh_token"] and state["id_token"]

        user = HubUserWithState(account.username, state)
        again = await authenticator.refresh_user(user)
        assert again["name"] == account.username and again["groups"] == ["platform-admins"]

        # The access token runs out: the hub refreshes with its refresh token.
        async with database.sessionmaker() as session:
            await session.execute(
                update(OAuthToken)
                .where(OAuthToken.account_id == account.id)
                .values(access_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            await session.commit()
        renewed = await authenticator.refresh_user(user)
        assert renewed["auth_state"]["access_token"] != state["access_token"]
        assert renewed["auth_state"]["refresh_token"] != state["refresh_token"]
    finally:
        await database.dispose()


async def test_a_developer_is_not_an_admin(served: Settings) -> None:
    database = Database(served.sqlalchemy_url)
    try:
        account = await create_account(database)
        cookie = await signed_in_cookie(served, database, account)
        model = await sign_in(served, hub_authenticator(served), cookie)
    finally:
        await database.dispose()
    assert (model["name"], model["admin"], model["groups"]) == (
        account.username,
        False,
        ["developers"],
    )
