"""An external PostgreSQL as operators run one: the owner is a plain role (no superuser)
that may create roles, and the api's role with its generated password is made by the
platform. Row-level security binds both; migrations and seeds still see every row."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, text

from api.core import migrate
from api.core.config import Settings
from api.patterns.embedder import Embedder
from api.patterns.seed import load_seed_library
from tests.support.database import SEED_PATTERNS_AT_LEAST


def _superuser(pg_settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        dbname="postgres",
        user="postgres",
        host=str(pg_settings.postgres_socket_dir),
        autocommit=True,
    )


@pytest.fixture
def operator_database(pg_settings: Settings) -> Iterator[tuple[str, str]]:
    """A database owned by a role without superuser, as a DBA would set it up: the
    extension created once by a superuser. Yields (owner's URL, database name)."""
    suffix = uuid.uuid4().hex[:8]
    owner, name = f"owner_{suffix}", f"external_{suffix}"
    with _superuser(pg_settings) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN CREATEROLE")
        conn.execute(f"CREATE DATABASE {name} OWNER {owner}")
    with psycopg.connect(
        dbname=name, user="postgres", host=str(pg_settings.postgres_socket_dir), autocommit=True
    ) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute(f"ALTER SCHEMA public OWNER TO {owner}")
    url = f"postgresql://{owner}@/{name}?host={pg_settings.postgres_socket_dir}"
    yield url, name
    with _superuser(pg_settings) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"DROP ROLE {owner}")


def test_a_plain_owner_migrates_and_the_platform_makes_the_api_role(
    pg_settings: Settings, operator_database: tuple[str, str], embedder: Embedder
) -> None:
    owner_url, name = operator_database
    role = f"api_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        _env_file=None,
        data_dir=pg_settings.data_dir / name,
        database_url=owner_url,
        database_app_role=role,
    )
    try:
        migrate.upgrade_platform(settings)
        assert load_seed_library(settings.sqlalchemy_url, embedder=embedder) >= (
            SEED_PATTERNS_AT_LEAST
        )
        password = (settings.secrets_dir / "database_app_password").read_text().strip()
        assert password and password in settings.app_sqlalchemy_url
        engine = create_engine(settings.app_sqlalchemy_url)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_user")) == role
            attributes = conn.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
            assert tuple(attributes) == (False, False)
            # Without a scope the api's role sees the shared library, and nobody's own rows.
            assert conn.scalar(text("SELECT count(*) FROM patterns")) >= SEED_PATTERNS_AT_LEAST
            conn.execute(text("SELECT set_config('datazentr.platform', 'on', false)"))
        engine.dispose()
        # Migrating again (every start does) keeps the role and its password working.
        migrate.upgrade_platform(settings)
        engine = create_engine(settings.app_sqlalchemy_url)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT current_user")) == role
        engine.dispose()
    finally:
        with _superuser(pg_settings) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {role}")
