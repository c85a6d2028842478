"""The api application over HTTP (in process) with the real database."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.core.config import Settings
from api.core.db import Database
from api.main import create_app


@pytest.fixture
async def client(migrated: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(migrated)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client


async def test_health_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/services/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_health_reports_an_unreachable_database(migrated: Settings) -> None:
    dead = Database("postgresql+psycopg://postgres@/nope?host=/nonexistent-socket-dir")
    app: FastAPI = create_app(migrated, database=dead)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            response = await client.get("/services/api/health")
            sign_in = await client.get("/services/api/.well-known/openid-configuration")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    # The provider starts once the database is back; until then sign-in says why not.
    assert sign_in.status_code == 503
    assert "database cannot be reached" in sign_in.json()["error"]["message"]


async def test_version_and_openapi_docs_live_under_the_service_prefix(
    client: httpx.AsyncClient,
) -> None:
    version = (await client.get("/services/api/version")).json()
    assert version["version"] == "0.1.0"
    spec = (await client.get("/services/api/openapi.json")).json()
    assert {"/me", "/health", "/version"} <= set(spec["paths"])
    docs = await client.get("/services/api/docs")
    assert docs.status_code == 200
    assert "/services/api/openapi.json" in docs.text
    bare = await client.get("/services/api")
    assert bare.status_code == 302
    assert bare.headers["location"] == "/services/api/docs"


async def test_me_without_a_token_is_a_json_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/services/api/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert "Authorization: token" in error["message"]


async def test_browser_without_a_session_is_sent_to_hub_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/services/api/me", headers={"accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["location"] == "/services/api/oauth/login?next=%2Fservices%2Fapi%2Fme"


async def test_unknown_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/services/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_callback_without_a_state_cookie_explains_what_to_do(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/services/api/oauth_callback?code=abc&state=def")
    assert response.status_code == 400
    assert "Start again" in response.json()["error"]["message"]
