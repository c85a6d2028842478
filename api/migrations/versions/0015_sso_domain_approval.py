"""Single sign-on serves only the domains a platform admin approved.

An organisation's admins list its e-mail domains themselves; nobody has checked that it
owns them. On a self-hosted platform the operator's platform admins vouch instead: the
sign-in page sends an address to the organisation's provider, and that provider makes
accounts just in time, only at a domain in both ``email_domains`` and
``sso_approved_domains``. ``sso_approved_by`` and ``sso_approved_at`` say who last
changed the approvals, and when.

Revision ID: 0015_sso_domain_approval
Revises: 0014_organisation_admin_reads
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_sso_domain_approval"
down_revision: str | None = "0014_organisation_admin_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "sso_approved_domains",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column("tenants", sa.Column("sso_approved_by", sa.String(255), nullable=True))
    op.add_column(
        "tenants", sa.Column("sso_approved_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("tenants", "sso_approved_at")
    op.drop_column("tenants", "sso_approved_by")
    op.drop_column("tenants", "sso_approved_domains")
