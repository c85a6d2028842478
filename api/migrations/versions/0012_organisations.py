"""Organisations run by their own admins: kinds, e-mail domains, seats, roles, invitations.

An organisation (a row of ``tenants``) is a company, a university or a class. People whose
confirmed address is at one of its ``email_domains`` may join it on their own when
``auto_join`` is on; ``seats`` caps how many members it has (NULL: no cap). A member's
``tenant_role`` says whether they run it (``admin``) or belong to it (``member``).
Invitations are mailed links whose tokens are kept only as their SHA-256; they are the
organisation's rows, kept apart by row-level security like every other.

Revision ID: 0012_organisations
Revises: 0011_row_level_security
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.core.row_security import protect, tenant_rows, unprotect

revision: str = "0012_organisations"
down_revision: str | None = "0011_row_level_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'company', 'university', 'class'"
TENANT_ROLES = "'member', 'admin'"


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("kind", sa.String(16), server_default="company", nullable=False)
    )
    op.create_check_constraint("ck_tenants_kind", "tenants", f"kind IN ({KINDS})")
    op.add_column(
        "tenants",
        sa.Column(
            "email_domains", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "tenants", sa.Column("auto_join", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("tenants", sa.Column("seats", sa.Integer(), nullable=True))
    op.create_check_constraint("ck_tenants_seats", "tenants", "seats IS NULL OR seats >= 0")

    op.add_column("user_profiles", sa.Column("tenant_role", sa.String(16), nullable=True))
    op.create_check_constraint(
        "ck_user_profiles_tenant_role", "user_profiles", f"tenant_role IN ({TENANT_ROLES})"
    )

    op.create_table(
        "organisation_invitations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("role", sa.String(16), server_default="member", nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.String(255), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"role IN ({TENANT_ROLES})", name="ck_organisation_invitations_role"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_organisation_invitations_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_organisation_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_organisation_invitations_token_hash"),
    )
    op.create_index(
        "ix_organisation_invitations_tenant_id", "organisation_invitations", ["tenant_id"]
    )
    protect("organisation_invitations", tenant_rows())


def downgrade() -> None:
    unprotect("organisation_invitations")
    op.drop_table("organisation_invitations")
    op.drop_constraint("ck_user_profiles_tenant_role", "user_profiles", type_="check")
    op.drop_column("user_profiles", "tenant_role")
    op.drop_constraint("ck_tenants_seats", "tenants", type_="check")
    op.drop_constraint("ck_tenants_kind", "tenants", type_="check")
    for column in ("seats", "auto_join", "email_domains", "kind"):
        op.drop_column("tenants", column)
