"""The api app in this process, reached as the hub's proxy routes it, over httpx's ASGI
transport; and the same api with the tenants the pattern and marketplace tests expect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx

from api.auth import HubIdentity
from api.core.config import Settings
from api.core.names import API_PREFIX
from api.main import create_app
from tests.support.identity import AnyUserIdentity, as_user

PREFIX = API_PREFIX.rstrip("/")
# ``async with api_factory(llm_model=...) as client``: an api with those settings overridden.
ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
TENANTS = {"acme": ("alice", "bob"), "globex": ("carol",)}


@asynccontextmanager
async def in_process_api(
    settings: Settings, *, identity: HubIdentity | None = None, http_timeout: float = 60
) -> AsyncIterator[httpx.AsyncClient]:
    """The api app with its lifespan; the client's base URL is the api's prefix on the hub.

    Users are ``AnyUserIdentity``'s unless ``identity`` says otherwise."""
    app = create_app(settings, identity=identity or AnyUserIdentity())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://hub{PREFIX}", timeout=http_timeout
        ) as client:
            yield client


@asynccontextmanager
async def tenant_api(
    settings: Settings, http_timeout: float = 60
) -> AsyncIterator[httpx.AsyncClient]:
    """The api app in process with tenants acme (alice, bob) and globex (carol);
    ``headers=as_user("alice")`` picks who is asking."""
    async with in_process_api(settings, http_timeout=http_timeout) as client:
        await set_up_tenants(client)
        yield client


async def set_up_tenants(client: httpx.AsyncClient) -> None:
    """Create ``TENANTS`` (again: an existing one is kept) and place their members."""
    for slug in TENANTS:
        response = await client.post(
            "/admin/tenants", json={"slug": slug, "name": slug.title()}, headers=as_user("root")
        )
        assert response.status_code in (201, 409), response.text
    for slug, members in TENANTS.items():
        for user in members:
            response = await client.put(
                f"/admin/users/{user}/tenant", json={"tenant": slug}, headers=as_user("root")
            )
            assert response.status_code == 200, response.text
