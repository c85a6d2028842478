"""Retired user names: a deleted account's name is never given to a new account.

Revision ID: 0009_retired_usernames
Revises: 0008_identity_provider
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_retired_usernames"
down_revision: str | None = "0008_identity_provider"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retired_usernames",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column(
            "retired_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("username", name="pk_retired_usernames"),
    )


def downgrade() -> None:
    op.drop_table("retired_usernames")
