"""The api over HTTP against a seeded database of its own, without and with a model.

Tokens are ``user:<name>`` (any name: each test picks fresh ones so usage counts start at
zero) or ``root`` (an admin); a stand-in for the hub resolves them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Request

from api.auth import HubIdentity, HubUser
from api.core.config import Settings
from api.errors import NotAuthenticated
from api.main import create_app
from api.patterns.embedder import Embedder
from tests.integration.conftest import seeded_database

PREFIX = "/services/api"


class AnyUserIdentity(HubIdentity):
    """Stands in for the hub: ``user:<name>`` is that user, ``root`` an admin."""

    async def user_for_request(self, request: Request) -> HubUser:
        token = self.token_from_request(request)
        if token == "root":
            return HubUser(name="root", admin=True, roles=["admin", "user"])
        if token is None or not token.startswith("user:"):
            raise NotAuthenticated("unknown test token")
        return HubUser(name=token.removeprefix("user:"), admin=False)


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"token user:{name}"}


ROOT = {"Authorization": "token root"}


def fresh_user(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def answer_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["text"] for e in events if e["type"] == "delta")


@pytest.fixture(scope="session")
def assistant_url(pg_settings: Settings, embedder: Embedder) -> str:
    return seeded_database(pg_settings, "assistant", embedder)


ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def api_factory(pg_settings: Settings, assistant_url: str) -> ApiFactory:
    """``async with api_factory(llm_base_url=..., llm_model=...) as client``."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=pg_settings.data_dir,
            database_url=assistant_url,
            **overrides,
        )
        app = create_app(settings, identity=AnyUserIdentity())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=f"http://hub{PREFIX}", timeout=60
            ) as client:
                yield client

    return make


@pytest.fixture(scope="session")
async def offline_api(api_factory: ApiFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with api_factory() as client:
        yield client
