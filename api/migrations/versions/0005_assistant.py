"""The assistant inside JupyterLab: conversations, messages and model usage per user.

Revision ID: 0005_assistant
Revises: 0004_project_generation
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0005_assistant"
down_revision: str | None = "0004_project_generation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
