"""Foundation: pgvector, tenants, plans (seeded), user profiles, append-only event log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The plans and their limits at the time of this migration. Later changes are new
# migrations (or edits by an operator): this list is history, not the current truth.
PLANS = [
    # code, name, rank, price, cpu, memory MB, daily min, idle min, named servers, storage GB,
    # generations/day, assistant requests/day
    ("free", "Free", 0, 0, 1.0, 1024, 120, 15, 1, 1, 5, 100),
    ("student", "Student", 1, 0, 1.0, 2048, 240, 30, 2, 5, 20, 500),
    ("pro", "Pro", 2, 1900, 2.0, 4096, 600, 60, 3, 20, 100, 3000),
    ("team", "Team", 3, 3900, 2.0, 8192, 720, 120, 5, 50, 300, 10000),
    ("enterprise", "Enterprise", 4, None, 4.0, 16384, None, 240, 10, 200, None, None),
]

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % is not allowed on events', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
    )

    plans = op.create_table(
        "plans",
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("price_cents_per_month", sa.Integer(), nullable=True),
        sa.Column("cpu_limit", sa.Numeric(5, 2), nullable=False),
        sa.Column("memory_limit_mb", sa.Integer(), nullable=False),
        sa.Column("daily_minutes", sa.Integer(), nullable=True),
        sa.Column("idle_timeout_minutes", sa.Integer(), nullable=False),
        sa.Column("named_servers", sa.Integer(), nullable=False),
        sa.Column("storage_gb", sa.Integer(), nullable=False),
        sa.Column("generations_per_day", sa.Integer(), nullable=True),
        sa.Column("assistant_requests_per_day", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("code", name="pk_plans"),
    )
    columns = [
        "code",
        "name",
        "rank",
        "price_cents_per_month",
        "cpu_limit",
        "memory_limit_mb",
        "daily_minutes",
        "idle_timeout_minutes",
        "named_servers",
        "storage_gb",
        "generations_per_day",
        "assistant_requests_per_day",
    ]
    op.bulk_insert(plans, [dict(zip(columns, row, strict=True)) for row in PLANS])

    op.create_table(
        "user_profiles",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("hub_name", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("plan_code", sa.String(32), server_default="free", nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plans.code"], name="fk_user_profiles_plan_code_plans"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_user_profiles_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_profiles"),
        sa.UniqueConstraint("hub_name", name="uq_user_profiles_hub_name"),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("payload", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_events_tenant_id_tenants"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_stream", "events", ["stream", "id"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()"
    )


def downgrade() -> None:
    op.drop_table("events")  # dropping the table drops its triggers
    op.execute("DROP FUNCTION events_append_only()")
    op.drop_table("user_profiles")
    op.drop_table("plans")
    op.drop_table("tenants")
    # The vector extension stays: other databases objects or a DBA may rely on it.
