"""Fixtures of the account tests: a real SMTP server, settings that use it, a browser; for
the modules on a real JupyterHub, the hub and its api service's token; for the modules in
chromium, the browser and a mail server that last the module."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from jupyterhub.tests.mocking import MockHub

from api.core.config import Settings
from api.core.db import Database
from tests.support.accounts import account_pages, mail_settings
from tests.support.own_account import platform_mock_hub
from tests.support.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def account_settings(migrated: Settings, smtp: SmtpServer) -> Settings:
    return mail_settings(migrated, smtp)


@pytest.fixture
async def browser(account_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with account_pages(account_settings) as client:
        yield client


# A real JupyterHub, one a module (on the module's event loop: a stopping hub cancels every
# task of its loop) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service_token() -> str:
    """The api service's token at the module's hub."""
    return secrets.token_hex(16)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(
    service_token: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MockHub]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("platform-hub"))
    async with platform_mock_hub(
        settings, tmp_path_factory.mktemp("mock-hub"), service_token
    ) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """The database on the module's event loop; per test, so it is closed before the hub
    stops."""
    database = Database(migrated.app_sqlalchemy_url)
    yield database
    await database.dispose()


# Chromium --------------------------------------------------------------------------------
