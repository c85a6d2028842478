"""Usage ledger: one row per run of a user's server.

Revision ID: 0003_usage_ledger
Revises: 0002_pattern_library
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_usage_ledger"
down_revision: str | None = "0002_pattern_library"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("hub_name", sa.String(255), nullable=False),
        sa.Column("server_name", sa.String(255), server_default="", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("plan_code", sa.String(32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_server_sessions"),
        sa.UniqueConstraint("hub_name", "server_name", "started_at", name="uq_server_sessions_run"),
    )
    op.create_index(
        "ix_server_sessions_user_started", "server_sessions", ["hub_name", "started_at"]
    )
    # Open sessions are what the enforcer scans every round.
    op.create_index(
        "ix_server_sessions_open",
        "server_sessions",
        ["last_seen_at"],
        postgresql_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("server_sessions")
