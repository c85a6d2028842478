"""A real PostgreSQL 18 + pgvector (the embedded server) for the whole test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.core.postgres import EmbeddedPostgres
from api.core.tenancy import PLATFORM
from api.patterns.embedder import Embedder, get_embedder
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.database import create_database, drop_database
from tests.support.filesystem import reachable_by_other_users
from tests.support.smtp import SmtpServer, smtp_server


@pytest.fixture(scope="session")
def pg_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = reachable_by_other_users(tmp_path_factory.mktemp("pg"))
    settings = Settings(_env_file=None, data_dir=data_dir)
    server = EmbeddedPostgres(settings)
    server.start()
    try:
        yield settings
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated(pg_settings: Settings) -> Settings:
    migrate.upgrade(pg_settings.sqlalchemy_url)
    return pg_settings


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The offline embedder, loaded once for the session."""
    return get_embedder(Settings(_env_file=None))


@pytest.fixture
def scratch_database_url(pg_settings: Settings) -> Iterator[str]:
    """An empty database of its own, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    yield create_database(pg_settings, name)
    drop_database(pg_settings, name)


@pytest.fixture
async def database(migrated: Settings) -> AsyncIterator[Database]:
    db = Database(migrated.app_sqlalchemy_url)
    # The tests' own reads and writes are the platform's; the api scopes its own sessions.
    yield db.in_scope(PLATFORM)
    await db.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium through Playwright, for a module's browser tests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def mail_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback for a module (its pages' site is served once a module)."""
    with smtp_server() as server:
        yield server
