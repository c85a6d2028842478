"""Databases of their own on the tests' PostgreSQL server: empty, or migrated and seeded."""

from __future__ import annotations

import psycopg

from api.core import migrate
from api.core.config import Settings, with_role
from api.core.migrate import DEFAULT_APP_ROLE
from api.patterns.embedder import Embedder
from api.patterns.seed import load_seed_library

SEED_PATTERNS_AT_LEAST = 60


def _admin_connection(pg_settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        dbname="postgres",
        user="postgres",
        host=str(pg_settings.postgres_socket_dir),
        autocommit=True,
    )


def database_url(pg_settings: Settings, name: str) -> str:
    return f"postgresql+psycopg://postgres@/{name}?host={pg_settings.postgres_socket_dir}"


def app_url(owner_url: str) -> str:
    """The same database as the role the api connects as (row-level security applies)."""
    return with_role(owner_url, DEFAULT_APP_ROLE, None)


def create_database(pg_settings: Settings, name: str) -> str:
    """An empty database ``name``, created afresh (an older one is dropped); its URL."""
    with _admin_connection(pg_settings) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(pg_settings, name)


def drop_database(pg_settings: Settings, name: str) -> None:
    with _admin_connection(pg_settings) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def seeded_database(pg_settings: Settings, name: str, embedder: Embedder) -> str:
    """A database of its own, created afresh, migrated, with the seed pattern library."""
    url = create_database(pg_settings, name)
    migrate.upgrade(url)
    assert load_seed_library(url, embedder=embedder) >= SEED_PATTERNS_AT_LEAST
    return url
