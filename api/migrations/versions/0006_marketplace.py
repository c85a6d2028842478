"""The pattern marketplace: bundles, their patterns, ratings and installs.

Revision ID: 0006_marketplace
Revises: 0005_assistant
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0006_marketplace"
down_revision: str | None = "0005_assistant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
