"""The pattern marketplace: bundles, their patterns, ratings and installs.

Revision ID: 0006_marketplace
Revises: 0005_assistant
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_marketplace"
down_revision: str | None = "0005_assistant"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = "'web', 'data', 'devops', 'testing', 'architecture', 'tooling'"


def _bundle_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["bundle_id"],
        ["marketplace_bundles.id"],
        name=f"fk_{table}_bundle_id_marketplace_bundles",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "marketplace_bundles",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("seed_key", sa.String(100), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("price_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("currency", sa.String(3), server_default="USD", nullable=False),
        sa.Column("featured", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("price_cents >= 0", name="ck_marketplace_bundles_price_not_negative"),
        sa.CheckConstraint(f"category IN ({CATEGORIES})", name="ck_marketplace_bundles_category"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_marketplace_bundles_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_marketplace_bundles"),
        sa.UniqueConstraint("seed_key", name="uq_marketplace_bundles_seed_key"),
    )
    op.create_index("ix_marketplace_bundles_tenant_id", "marketplace_bundles", ["tenant_id"])
    op.create_table(
        "marketplace_bundle_patterns",
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("pattern_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        _bundle_fk("marketplace_bundle_patterns"),
        sa.ForeignKeyConstraint(
            ["pattern_id"],
            ["patterns.id"],
            name="fk_marketplace_bundle_patterns_pattern_id_patterns",
        ),
        sa.PrimaryKeyConstraint("bundle_id", "pattern_id", name="pk_marketplace_bundle_patterns"),
    )
    op.create_table(
        "marketplace_ratings",
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column(
            "rated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name="ck_marketplace_ratings_stars"),
        _bundle_fk("marketplace_ratings"),
        sa.PrimaryKeyConstraint("bundle_id", "user_name", name="pk_marketplace_ratings"),
    )
    op.create_table(
        "marketplace_installs",
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "installed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        _bundle_fk("marketplace_installs"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_marketplace_installs_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("bundle_id", "user_name", name="pk_marketplace_installs"),
    )


def downgrade() -> None:
    op.drop_table("marketplace_installs")
    op.drop_table("marketplace_ratings")
    op.drop_table("marketplace_bundle_patterns")
    op.drop_index("ix_marketplace_bundles_tenant_id", table_name="marketplace_bundles")
    op.drop_table("marketplace_bundles")
