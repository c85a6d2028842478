"""A redeemed authorization code is kept (marked used) until it expires, and each token
names the code it came from, so a replayed code revokes what it issued (RFC 6749 §4.1.2).

Revision ID: 0010_code_replay
Revises: 0009_retired_usernames
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_code_replay"
down_revision: str | None = "0009_retired_usernames"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "oauth_authorization_codes",
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("oauth_tokens", sa.Column("code_hash", sa.String(64), nullable=True))
    op.create_index("ix_oauth_tokens_code_hash", "oauth_tokens", ["code_hash"])


def downgrade() -> None:
    op.drop_index("ix_oauth_tokens_code_hash", table_name="oauth_tokens")
    op.drop_column("oauth_tokens", "code_hash")
    op.drop_column("oauth_authorization_codes", "used_at")
