"""A real PostgreSQL 18 + pgvector (the embedded server) for the whole test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.core.postgres import EmbeddedPostgres
from api.patterns.embedder import Embedder, get_embedder
from api.patterns.seed import load_seed_library
from tests.helpers import reachable_by_other_users


@pytest.fixture(scope="session")
def pg_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = reachable_by_other_users(tmp_path_factory.mktemp("pg"))
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
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


def seeded_database(pg_settings: Settings, name: str, embedder: Embedder) -> str:
    """A database of its own, created afresh, migrated, with the seed pattern library."""
    admin = {"dbname": "postgres", "user": "postgres", "host": str(pg_settings.postgres_socket_dir)}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@/{name}?host={pg_settings.postgres_socket_dir}"
    migrate.upgrade(url)
    assert load_seed_library(url, embedder=embedder) >= 60
    return url


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The offline embedder, loaded once for the session."""
    return get_embedder(Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.fixture
def scratch_database_url(pg_settings: Settings) -> Iterator[str]:
    """An empty database of its own, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    admin = {"dbname": "postgres", "user": "postgres", "host": str(pg_settings.postgres_socket_dir)}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@/{name}?host={pg_settings.postgres_socket_dir}"
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def database(migrated: Settings) -> AsyncIterator[Database]:
    db = Database(migrated.sqlalchemy_url)
    yield db
    await db.dispose()
