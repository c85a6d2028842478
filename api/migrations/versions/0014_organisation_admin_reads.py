"""An organisation's admins read its members' usage ledgers (session minutes, assistant
requests); conversations stay their owner's alone.

Revision ID: 0014_organisation_admin_reads
Revises: 0013_organisation_settings
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from api.core.row_security import (
    TENANT_ADMIN_FUNCTION,
    own_or_members_rows,
    own_rows,
    replace_policy,
)

revision: str = "0014_organisation_admin_reads"
down_revision: str | None = "0013_organisation_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGERS = ("server_sessions", "assistant_usage")


def upgrade() -> None:
    op.execute(TENANT_ADMIN_FUNCTION)
    for table in LEDGERS:
        replace_policy(table, own_or_members_rows(table, "hub_name"))


def downgrade() -> None:
    for table in LEDGERS:
        replace_policy(table, own_rows("hub_name"))
    op.execute("DROP FUNCTION IF EXISTS datazentr_tenant_admin()")
