"""An organisation's admins read its members' usage ledgers (session minutes, assistant
requests) — read only: changing a ledger stays its owner's (and the platform's);
conversations stay their owner's alone.

Revision ID: 0014_organisation_admin_reads
Revises: 0013_organisation_settings
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from api.core.row_security import TENANT_ADMIN_FUNCTION, add_read_policy, own_or_members_rows

revision: str = "0014_organisation_admin_reads"
down_revision: str | None = "0013_organisation_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGERS = ("server_sessions", "assistant_usage")
POLICY = "members_read"


def upgrade() -> None:
    op.execute(TENANT_ADMIN_FUNCTION)
    for table in LEDGERS:
        add_read_policy(table, POLICY, own_or_members_rows(table, "hub_name"))


def downgrade() -> None:
    for table in LEDGERS:
        op.execute(f"DROP POLICY {POLICY} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS datazentr_tenant_admin()")
