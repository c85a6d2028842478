"""The api over HTTP against a seeded database of its own, without and with a model.

Users are ``tests.support.identity``'s: each test picks fresh names (``fresh_user()``) so
usage counts start at zero; ``root`` is the admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from api.core.config import Settings
from api.patterns.embedder import Embedder
from tests.support.api import ApiFactory, in_process_api
from tests.support.database import seeded_database


@pytest.fixture(scope="session")
def assistant_url(pg_settings: Settings, embedder: Embedder) -> str:
    return seeded_database(pg_settings, "assistant", embedder)


@pytest.fixture(scope="session")
def api_factory(pg_settings: Settings, assistant_url: str) -> ApiFactory:
    """``async with api_factory(llm_base_url=..., llm_model=...) as client``."""

    def make(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = Settings(
            _env_file=None,
            data_dir=pg_settings.data_dir,
            database_url=assistant_url,
            **overrides,
        )
        return in_process_api(settings)

    return make


@pytest.fixture(scope="session")
async def offline_api(api_factory: ApiFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with api_factory() as client:
        yield client
