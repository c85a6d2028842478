"""What an organisation's admins set: single sign-on, branding, member defaults, and the
size of its generation pool.

- Single sign-on: an OpenID Connect provider (issuer, client id, client secret encrypted
  with the platform's secret key); when ``sso_enabled``, people at the organisation's
  e-mail domains are sent to it from the sign-in page.
- Branding: a name, a logo (bytes and media type, served by the api) and two colours.
- Defaults: the plan a new member gets (``member_plan_code``) and the images offered.
- ``plan_code``: the organisation's own plan (billing sells it); its
  ``generation_concurrency`` bounds how many of the organisation's generation jobs run at
  once, so one organisation's burst cannot starve the others.

Revision ID: 0013_organisation_settings
Revises: 0012_organisations
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_organisation_settings"
down_revision: str | None = "0012_organisations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLOUR = "~ '^#[0-9a-f]{6}$'"


def upgrade() -> None:
    op.add_column("tenants", sa.Column("sso_issuer", sa.String(500), nullable=True))
    op.add_column("tenants", sa.Column("sso_client_id", sa.String(255), nullable=True))
    op.add_column("tenants", sa.Column("sso_client_secret_encrypted", sa.Text(), nullable=True))
    op.add_column(
        "tenants", sa.Column("sso_enabled", sa.Boolean(), server_default="false", nullable=False)
    )
    op.add_column("tenants", sa.Column("brand_name", sa.String(200), nullable=True))
    op.add_column("tenants", sa.Column("brand_logo", sa.LargeBinary(), nullable=True))
    op.add_column("tenants", sa.Column("brand_logo_type", sa.String(64), nullable=True))
    op.add_column("tenants", sa.Column("brand_primary", sa.String(7), nullable=True))
    op.add_column("tenants", sa.Column("brand_accent", sa.String(7), nullable=True))
    op.create_check_constraint(
        "ck_tenants_brand_colours",
        "tenants",
        f"(brand_primary IS NULL OR brand_primary {COLOUR}) "
        f"AND (brand_accent IS NULL OR brand_accent {COLOUR})",
    )
    op.add_column(
        "tenants",
        sa.Column(
            "plan_code",
            sa.String(32),
            sa.ForeignKey("plans.code", name="fk_tenants_plan_code_plans"),
            nullable=True,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "member_plan_code",
            sa.String(32),
            sa.ForeignKey("plans.code", name="fk_tenants_member_plan_code_plans"),
            nullable=True,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column("images", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column("plans", sa.Column("generation_concurrency", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "ck_plans_generation_concurrency",
        "plans",
        "generation_concurrency IS NULL OR generation_concurrency > 0",
    )
    # Team and enterprise organisations run more jobs at once than a free one.
    op.execute(
        "UPDATE plans SET generation_concurrency = CASE code "
        "WHEN 'free' THEN 1 WHEN 'student' THEN 1 WHEN 'pro' THEN 2 "
        "WHEN 'team' THEN 4 WHEN 'enterprise' THEN 8 END"
    )


def downgrade() -> None:
    op.drop_constraint("ck_plans_generation_concurrency", "plans", type_="check")
    op.drop_column("plans", "generation_concurrency")
    for column in (
        "images",
        "member_plan_code",
        "plan_code",
    ):
        op.drop_column("tenants", column)
    op.drop_constraint("ck_tenants_brand_colours", "tenants", type_="check")
    for column in (
        "brand_accent",
        "brand_primary",
        "brand_logo_type",
        "brand_logo",
        "brand_name",
        "sso_enabled",
        "sso_client_secret_encrypted",
        "sso_client_id",
        "sso_issuer",
    ):
        op.drop_column("tenants", column)
