"""Migrations against the real embedded PostgreSQL + pgvector."""

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from api.core import migrate
from api.models import Base

TABLES = {"tenants", "plans", "user_profiles", "events", "server_sessions"}
TABLES |= {"patterns", "pattern_versions", "pattern_uses", "pattern_votes"}
TABLES |= {"projects", "project_events"}
TABLES |= {"assistant_conversations", "assistant_messages", "assistant_usage"}
TABLES |= {
    "marketplace_bundles",
    "marketplace_bundle_patterns",
    "marketplace_ratings",
    "marketplace_installs",
}
TABLES |= {"accounts", "account_identities", "account_tokens", "account_sessions"}
TABLES |= {"sign_in_attempts", "retired_usernames"}
TABLES |= {"oauth_clients", "oauth_authorization_codes", "oauth_tokens", "oauth_signing_keys"}
TABLES |= {"organisation_invitations"}
TABLES |= {"billing_customers", "subscriptions", "stripe_events", "bundle_purchases"}
TABLES |= {"usage_meters", "usage_notices", "meter_reports"}
# procrastinate's job queue: its schema is its own (migration 0004 applies it as shipped).
PROCRASTINATE_TABLES = {
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
}
TABLES |= PROCRASTINATE_TABLES


def _psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_up_down_up_is_clean(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    assert _tables(scratch_database_url) == TABLES
    migrate.downgrade(scratch_database_url, "base")
    assert _tables(scratch_database_url) == set()
    migrate.upgrade(scratch_database_url)
    assert _tables(scratch_database_url) == TABLES


def test_schema_matches_the_models(scratch_database_url: str) -> None:
    """Autogenerate finds nothing to do: models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: not str(name).startswith("procrastinate_")},
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_vector_extension_is_usable(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    with psycopg.connect(_psycopg_url(scratch_database_url)) as conn:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname='vector'")
        assert version.fetchone() is not None
        distance = conn.execute("SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector").fetchone()
        assert distance == (1.0,)


def test_plans_are_seeded_with_their_limits(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    with psycopg.connect(_psycopg_url(scratch_database_url)) as conn:
        rows = conn.execute(
            "SELECT code, daily_minutes, memory_limit_mb FROM plans ORDER BY rank"
        ).fetchall()
    assert [code for code, _, _ in rows] == ["free", "student", "pro", "team", "enterprise"]
    assert rows[0][1] == 120  # the free plan: two hours a day
    assert rows[-1][1] is None  # enterprise: no daily limit
    memories = [memory for _, _, memory in rows]
    assert memories == sorted(memories)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'forged'",
        "DELETE FROM events",
        "TRUNCATE events",
    ],
)
def test_event_log_is_append_only(scratch_database_url: str, statement: str) -> None:
    migrate.upgrade(scratch_database_url)
    with psycopg.connect(_psycopg_url(scratch_database_url)) as conn:
        conn.execute("INSERT INTO events (stream, type) VALUES ('user:ada', 'user.joined')")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_upgrade_twice_is_a_no_op(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM plans")).scalar() == 5
    engine.dispose()
