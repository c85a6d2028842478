"""A seeded pattern library in its own database, the api in process, and a queue worker.

``drain()`` runs a real procrastinate worker in this process until the queue is empty, so
the tests go through the same queue, task and pipeline as the worker service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.generation.queue import QUEUE
from api.patterns.embedder import Embedder
from api.worker import build_worker_app
from tests.support.api import in_process_api
from tests.support.database import app_url, seeded_database
from tests.support.generation import Drain
from tests.support.identity import as_user


@pytest.fixture(scope="session")
def gen_url(pg_settings: Settings, embedder: Embedder) -> str:
    """Its own seeded database: generation changes patterns' usage counts."""
    return seeded_database(pg_settings, "generation", embedder)


@pytest.fixture(scope="session")
def gen_settings(pg_settings: Settings, gen_url: str) -> Settings:
    return Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=gen_url)


@pytest.fixture
async def gen_db(gen_url: str) -> AsyncIterator[Database]:
    db = Database(app_url(gen_url))
    # The tests' own reads and writes are the platform's; the api scopes its own sessions.
    yield db.in_scope(PLATFORM)
    await db.dispose()


@pytest.fixture
async def client(gen_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(gen_settings, http_timeout=120) as http:
        # The free plan allows 5 generations a day: these users generate more.
        for name in ("alice", "dave"):
            moved = await http.put(
                f"/admin/users/{name}/plan", json={"plan_code": "pro"}, headers=as_user("root")
            )
            assert moved.status_code == 200, moved.text
        yield http


@pytest.fixture
async def drain(gen_settings: Settings, gen_db: Database) -> Drain:
    """Run the queue's jobs in this process, as the worker service would, until none is left."""

    async def run() -> None:
        app = build_worker_app(gen_settings, gen_db)
        async with app.open_async():
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False)

    return run
