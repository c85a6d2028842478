"""Fixtures of the organisation tests: a real SMTP server, settings that use it, and
browsers on the account pages (as many as a test has people)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest

from api.core.config import Settings
from tests.support.accounts import mail_settings
from tests.support.organisations import OpenBrowser, organisation_browser
from tests.support.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def org_settings(migrated: Settings, smtp: SmtpServer) -> Settings:
    # The tests' OpenID Connect providers run on this machine (127.0.0.1).
    return mail_settings(migrated, smtp, sso_allow_private_issuers=True)


@pytest.fixture
async def open_browser(org_settings: Settings) -> AsyncIterator[OpenBrowser]:
    """Opens another signed-out browser; all are closed after the test."""
    async with AsyncExitStack() as stack:

        async def open_one() -> httpx.AsyncClient:
            return await stack.enter_async_context(organisation_browser(org_settings))

        yield open_one
