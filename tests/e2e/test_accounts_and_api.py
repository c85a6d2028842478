"""A new user, over HTTP, against the whole running platform."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.hub import HubUser
from tests.support.platform import Platform

pytestmark = pytest.mark.slow


def api(platform: Platform, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"token {token}"} if token else {}
    return httpx.Client(base_url=f"{platform.url}/services/api", headers=headers, timeout=30)


def test_signup_then_login_then_me_with_a_token(new_user: HubUser) -> None:
    token = new_user.new_token()
    with api(new_user.platform, token) as client:
        response = client.get("/me")
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["name"] == new_user.name
    assert me["admin"] is False
    assert "user" in me["roles"]
    assert me["plan"]["code"] == "free"
    assert me["plan"]["daily_minutes"] == 120


def test_admin_named_in_settings_is_admin_in_the_api(platform: Platform, admin: HubUser) -> None:
    with api(platform, admin.new_token()) as client:
        me = client.get("/me").json()
    assert me["admin"] is True
    assert "admin" in me["roles"]


def test_wrong_password_does_not_log_in(new_user: HubUser) -> None:
    other = HubUser(new_user.platform, name=new_user.name)
    response = other.login(password="not-the-password")
    assert response.status_code == 401
    assert "password is not right" in response.text
    assert not other.client.cookies.get("jupyterhub-hub-login")


def test_signup_refuses_a_common_password(platform: Platform) -> None:
    user = HubUser(platform)
    response = user.signup(password="password")
    assert response.status_code == 422
    assert "most common" in response.text or "at least" in response.text
    assert user.login(password="password").status_code == 401


def test_spawn_a_server_through_the_hub_rest_api(new_user: HubUser) -> None:
    token = new_user.new_token()
    hub = httpx.Client(
        base_url=f"{new_user.platform.url}/hub/api",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    started = time.monotonic()
    response = hub.post(f"/users/{new_user.name}/server")
    assert response.status_code in (201, 202), response.text
    deadline = time.monotonic() + 90
    while True:
        model = hub.get(f"/users/{new_user.name}").json()
        if model["servers"].get("", {}).get("ready"):
            break
        assert time.monotonic() < deadline, f"server not ready: {model}"
        time.sleep(0.5)
    new_user.platform.record_processes()
    status = httpx.get(
        f"{new_user.platform.url}/user/{new_user.name}/api/status",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert status.status_code == 200, status.text
    print(f"spawn to ready: {time.monotonic() - started:.1f}s")
    assert hub.delete(f"/users/{new_user.name}/server").status_code in (202, 204)
    hub.close()


def test_browser_oauth_flow_reaches_me(new_user: HubUser) -> None:
    """Logged in at the hub, a browser opening the api is sent through OAuth and back."""
    client = new_user.client
    response = client.get("/services/api/me", headers={"accept": "text/html"})
    hops = []
    while response.status_code in (301, 302, 303):
        location = response.headers["location"]
        hops.append(location.split("?")[0])
        response = client.get(location, headers={"accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == new_user.name
    assert hops[:4] == [
        "/services/api/oauth/login",
        "/hub/api/oauth2/authorize",
        "/services/api/oauth_callback",
        "/services/api/me",
    ]
    # The session cookie now works on its own, for requests a page makes.
    again = client.get("/services/api/me")
    assert again.status_code == 200


def test_no_token_unknown_token_and_missing_scope(new_user: HubUser) -> None:
    platform = new_user.platform
    with api(platform) as client:
        missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"

    with api(platform, "0123456789abcdef0123456789abcdef") as client:
        unknown = client.get("/me")
    assert unknown.status_code == 401
    assert "not valid" in unknown.json()["error"]["message"]

    narrow = new_user.new_token(scopes=[f"read:users:name!user={new_user.name}"])
    with api(platform, narrow) as client:
        forbidden = client.get("/me")
    assert forbidden.status_code == 403
    assert "access:services!service=api" in forbidden.json()["error"]["message"]


def test_bad_input_gets_field_messages(new_user: HubUser) -> None:
    token = new_user.new_token()
    with api(new_user.platform, token) as client:
        malformed = client.patch(
            "/me", content=b'{"display_name": "Ada",', headers={"content-type": "application/json"}
        )
        bad_email = client.patch("/me", json={"email": "not-an-address"})
        unknown_field = client.patch("/me", json={"plan_code": "enterprise"})
        good = client.patch("/me", json={"display_name": "Ada Lovelace"})
    assert malformed.status_code == 422
    assert malformed.json()["error"]["fields"][0]["field"] == "body"
    assert "not valid JSON" in malformed.json()["error"]["message"]
    assert "at character" in malformed.json()["error"]["message"]
    assert bad_email.status_code == 422
    assert bad_email.json()["error"]["fields"] == [
        {"field": "email", "message": "must be an email address like name@example.org"}
    ]
    assert unknown_field.status_code == 422
    assert unknown_field.json()["error"]["fields"][0]["field"] == "plan_code"
    assert good.status_code == 200
    assert good.json()["display_name"] == "Ada Lovelace"
    assert good.json()["plan"]["code"] == "free"  # a user cannot upgrade themselves


def test_health_through_the_proxy(platform: Platform) -> None:
    with api(platform) as client:
        assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    assert httpx.get(f"{platform.url}/hub/health").status_code == 200
