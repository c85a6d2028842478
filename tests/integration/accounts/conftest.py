"""Fixtures of the account tests: a real SMTP server, settings that use it, a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from api.core.config import Settings
from tests.support.accounts import account_pages, mail_settings
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
