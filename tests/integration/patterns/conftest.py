"""A seeded pattern library in its own database, and the api over HTTP with test users.

The database is migrated and seeded once per session (the embedder loads once); the
HTTP client authenticates as the users of ``tests.support.identity``, in the tenants of
``tests.support.api.tenant_api``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.patterns.embedder import Embedder
from tests.support.api import tenant_api
from tests.support.database import app_url, seeded_database


@pytest.fixture(scope="session")
def library_url(pg_settings: Settings, embedder: Embedder) -> str:
    """A database of its own, migrated and seeded once for the session."""
    return seeded_database(pg_settings, "pattern_library", embedder)


@pytest.fixture(scope="session")
def library_settings(pg_settings: Settings, library_url: str) -> Settings:
    return Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=library_url)


@pytest.fixture
async def library_db(library_url: str) -> AsyncIterator[Database]:
    db = Database(app_url(library_url))
    # The tests' own reads and writes are the platform's; the api scopes its own sessions.
    yield db.in_scope(PLATFORM)
    await db.dispose()


@pytest.fixture(scope="session")
async def api(library_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with tenant_api(library_settings) as client:
        yield client
