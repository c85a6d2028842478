"""The api in this process with the platform's own sign-in on: it is the hub's provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.core.config import Settings
from api.core.db import Database
from tests.support.api import in_process_api

# Loopback: plain http is allowed for an issuer on this machine only.
PUBLIC_URL = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def broker_settings(migrated: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Platform sign-in on the session's migrated database; secrets in a dir of its own."""
    data_dir: Path = tmp_path_factory.mktemp("broker")
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=migrated.sqlalchemy_url,
        authenticator="platform",
        public_url=PUBLIC_URL,
    )


@pytest.fixture
async def broker(broker_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The api (base URL: its prefix), as browsers and the hub reach it."""
    async with in_process_api(broker_settings) as client:
        yield client


@pytest.fixture
async def broker_database(broker_settings: Settings) -> AsyncIterator[Database]:
    db = Database(broker_settings.app_sqlalchemy_url)
    yield db
    await db.dispose()
