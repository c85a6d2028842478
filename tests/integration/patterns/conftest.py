"""A seeded pattern library in its own database, and the api over HTTP with test users.

The database is migrated and seeded once per session (the embedder loads once); the
HTTP client authenticates with tokens that a stand-in for the hub resolves to users.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import Request

from api.auth import HubIdentity, HubUser
from api.core.config import Settings
from api.core.db import Database
from api.errors import NotAuthenticated
from api.main import create_app
from api.patterns.embedder import Embedder, MiniLMEmbedder
from tests.integration.conftest import seeded_database

PREFIX = "/services/api"
USERS = {
    "alice": HubUser(name="alice", admin=False),  # tenant acme
    "bob": HubUser(name="bob", admin=False),  # tenant acme
    "carol": HubUser(name="carol", admin=False),  # tenant globex
    "dave": HubUser(name="dave", admin=False),  # no tenant
    "root": HubUser(name="root", admin=True, roles=["admin", "user"]),
}


class TokenIdentity(HubIdentity):
    """Stands in for the hub: the token is the user's name (the hub protocol has e2e tests)."""

    def __init__(self, users: dict[str, HubUser]) -> None:
        super().__init__()
        self.users = users

    async def user_for_request(self, request: Request) -> HubUser:
        token = self.token_from_request(request)
        if token is None or token not in self.users:
            raise NotAuthenticated("unknown test token")
        return self.users[token]


@pytest.fixture(scope="session")
def library_url(pg_settings: Settings, embedder: Embedder) -> str:
    """A database of its own, migrated and seeded once for the session."""
    return seeded_database(pg_settings, "pattern_library", embedder)


@pytest.fixture(scope="session")
def library_settings(pg_settings: Settings, library_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=pg_settings.data_dir, database_url=library_url
    )


@pytest.fixture
async def library_db(library_url: str) -> AsyncIterator[Database]:
    db = Database(library_url)
    yield db
    await db.dispose()


@asynccontextmanager
async def tenant_api(
    settings: Settings, http_timeout: float = 60
) -> AsyncIterator[httpx.AsyncClient]:
    """The api app in process with tenants acme (alice, bob) and globex (carol);
    ``headers=as_user("alice")`` picks who is asking."""
    app = create_app(settings, identity=TokenIdentity(USERS))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://hub{PREFIX}", timeout=http_timeout
        ) as client:
            await _set_up_tenants(client)
            yield client


@pytest.fixture(scope="session")
async def api(library_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with tenant_api(library_settings) as client:
        yield client


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"token {name}"}


async def _set_up_tenants(client: httpx.AsyncClient) -> None:
    for slug in ("acme", "globex"):
        response = await client.post(
            "/admin/tenants", json={"slug": slug, "name": slug.title()}, headers=as_user("root")
        )
        assert response.status_code in (201, 409), response.text
    for user, slug in (("alice", "acme"), ("bob", "acme"), ("carol", "globex")):
        response = await client.put(
            f"/admin/users/{user}/tenant", json={"tenant": slug}, headers=as_user("root")
        )
        assert response.status_code == 200, response.text


__all__ = ["USERS", "MiniLMEmbedder", "as_user"]
