"""Billing: plans people can buy, their Stripe copies, bought bundles and usage meters.

Plans gain what selling them needs (yearly price, trial, per-seat pricing, whether the
student plan needs verified student status, Stripe's product and price ids written by the
catalogue sync) and metered limits per day. The prices follow the published tiers: student
$9, pro $29, team $39 per seat a month (ten months' price a year); enterprise stays "contact
us". Customers and subscriptions belong to a person or an organisation: each sees its own,
an organisation's admins its organisation's; webhooks write them in platform scope.
``stripe_events`` and ``meter_reports`` are the platform's alone.

Revision ID: 0016_billing
Revises: 0015_sso_domain_approval
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from api.core.row_security import (
    PLATFORM_SCOPE,
    TENANT,
    USER,
    own_or_members_rows,
    own_rows,
    protect,
    unprotect,
)

revision: str = "0016_billing"
down_revision: str | None = "0015_sso_domain_approval"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OWNER = "(hub_name IS NULL) <> (tenant_id IS NULL)"
METERS = (
    "'api_calls', 'compute_seconds', 'storage_bytes', 'patterns_used', 'agent_steps', "
    "'assistant_tokens'"
)
# A person's own billing rows, and their organisation's for its admins.
OWNER_ROWS = (
    f"{PLATFORM_SCOPE} OR hub_name = {USER} "
    f"OR (tenant_id = {TENANT} AND (SELECT datazentr_tenant_admin()))"
)

# code: monthly cents, yearly cents, trial days, per seat, needs student status,
# api calls, agent steps, patterns used, assistant tokens (per day), overage meters
SELLING = {
    "free": (0, 0, 0, False, False, 2_000, 60, 100, 50_000, []),
    "student": (900, 9_000, 0, False, True, 10_000, 300, 500, 250_000, []),
    "pro": (2_900, 29_000, 14, False, False, 50_000, 1_500, 2_000, 1_000_000, []),
    "team": (
        3_900,
        39_000,
        14,
        True,
        False,
        100_000,
        4_000,
        5_000,
        2_000_000,
        ["assistant_tokens"],
    ),
    "enterprise": (None, None, 0, True, False, None, None, None, None, []),
}

PLAN_COLUMNS: tuple[sa.Column, ...] = (  # type: ignore[type-arg]
    sa.Column("price_cents_per_year", sa.Integer(), nullable=True),
    sa.Column("trial_days", sa.Integer(), server_default="0", nullable=False),
    sa.Column("per_seat", sa.Boolean(), server_default="false", nullable=False),
    sa.Column("requires_student_status", sa.Boolean(), server_default="false", nullable=False),
    sa.Column("stripe_product_id", sa.String(255), nullable=True),
    sa.Column("stripe_price_month_id", sa.String(255), nullable=True),
    sa.Column("stripe_price_year_id", sa.String(255), nullable=True),
    sa.Column("api_calls_per_day", sa.Integer(), nullable=True),
    sa.Column("agent_steps_per_day", sa.Integer(), nullable=True),
    sa.Column("patterns_used_per_day", sa.Integer(), nullable=True),
    sa.Column("assistant_tokens_per_day", sa.Integer(), nullable=True),
    sa.Column("overage_meters", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
)


def upgrade() -> None:
    for column in PLAN_COLUMNS:
        op.add_column("plans", column)
    plans = sa.table(
        "plans",
        sa.column("code"),
        sa.column("price_cents_per_month"),
        sa.column("price_cents_per_year"),
        sa.column("trial_days"),
        sa.column("per_seat"),
        sa.column("requires_student_status"),
        sa.column("api_calls_per_day"),
        sa.column("agent_steps_per_day"),
        sa.column("patterns_used_per_day"),
        sa.column("assistant_tokens_per_day"),
        sa.column("overage_meters", postgresql.ARRAY(sa.Text())),
    )
    for code, values in SELLING.items():
        month, year, trial, seat, student, calls, steps, used, tokens, overage = values
        op.execute(
            plans.update()
            .where(plans.c.code == code)
            .values(
                price_cents_per_month=month,
                price_cents_per_year=year,
                trial_days=trial,
                per_seat=seat,
                requires_student_status=student,
                api_calls_per_day=calls,
                agent_steps_per_day=steps,
                patterns_used_per_day=used,
                assistant_tokens_per_day=tokens,
                overage_meters=overage,
            )
        )

    op.add_column(
        "marketplace_bundles",
        sa.Column("sales", sa.Integer(), server_default="0", nullable=False),
    )

    op.create_table(
        "billing_customers",
        sa.Column("stripe_customer_id", sa.String(255), nullable=False),
        sa.Column("hub_name", sa.String(255), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(ONE_OWNER, name="ck_billing_customers_one_owner"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_billing_customers_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stripe_customer_id", name="pk_billing_customers"),
    )
    op.create_index(
        "uq_billing_customers_person",
        "billing_customers",
        ["hub_name"],
        unique=True,
        postgresql_where=sa.text("hub_name IS NOT NULL"),
    )
    op.create_index(
        "uq_billing_customers_organisation",
        "billing_customers",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NOT NULL"),
    )

    op.create_table(
        "subscriptions",
        sa.Column("stripe_subscription_id", sa.String(255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=False),
        sa.Column("hub_name", sa.String(255), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("plan_code", sa.String(32), nullable=False),
        sa.Column("price_id", sa.String(255), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trial_notice_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(ONE_OWNER, name="ck_subscriptions_one_owner"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_subscriptions_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plans.code"], name="fk_subscriptions_plan_code_plans"
        ),
        sa.PrimaryKeyConstraint("stripe_subscription_id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_hub_name", "subscriptions", ["hub_name"])
    op.create_index("ix_subscriptions_tenant_id", "subscriptions", ["tenant_id"])

    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
    )

    op.create_table(
        "bundle_purchases",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bundle_id", sa.Uuid(), nullable=False),
        sa.Column("hub_name", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("checkout_session_id", sa.String(255), nullable=False),
        sa.Column("payment_intent_id", sa.String(255), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), server_default="paid", nullable=False),
        sa.Column(
            "purchased_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('paid', 'refunded')", name="ck_bundle_purchases_status"),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["marketplace_bundles.id"],
            name="fk_bundle_purchases_bundle_id_marketplace_bundles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_bundle_purchases_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bundle_purchases"),
        sa.UniqueConstraint("checkout_session_id", name="uq_bundle_purchases_checkout_session_id"),
    )
    op.create_index(
        "uq_bundle_purchases_paid",
        "bundle_purchases",
        ["bundle_id", "hub_name"],
        unique=True,
        postgresql_where=sa.text("status = 'paid'"),
    )
    op.create_index("ix_bundle_purchases_hub_name", "bundle_purchases", ["hub_name"])
    op.create_index(
        "ix_bundle_purchases_payment_intent_id", "bundle_purchases", ["payment_intent_id"]
    )

    op.create_table(
        "usage_meters",
        sa.Column("hub_name", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meter", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(f"meter IN ({METERS})", name="ck_usage_meters_meter"),
        sa.CheckConstraint("quantity >= 0", name="ck_usage_meters_quantity_not_negative"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_usage_meters_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("hub_name", "day", "meter", name="pk_usage_meters"),
    )
    op.create_index("ix_usage_meters_tenant_day", "usage_meters", ["tenant_id", "day"])

    op.create_table(
        "usage_notices",
        sa.Column("hub_name", sa.String(255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("limit_name", sa.String(32), nullable=False),
        sa.Column("threshold", sa.SmallInteger(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("threshold IN (80, 100)", name="ck_usage_notices_threshold"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_usage_notices_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint(
            "hub_name", "day", "limit_name", "threshold", name="pk_usage_notices"
        ),
    )

    op.create_table(
        "meter_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("stripe_customer_id", sa.String(255), nullable=False),
        sa.Column("event_name", sa.String(100), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_meter_reports"),
    )
    op.create_index(
        "ix_meter_reports_unsent",
        "meter_reports",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )

    protect("billing_customers", OWNER_ROWS)
    protect("subscriptions", OWNER_ROWS)
    protect("stripe_events", PLATFORM_SCOPE)
    protect("meter_reports", PLATFORM_SCOPE)
    protect("bundle_purchases", own_rows("hub_name"))
    protect("usage_meters", own_or_members_rows("usage_meters", "hub_name"))
    protect("usage_notices", own_rows("hub_name"))


def downgrade() -> None:
    for table in (
        "usage_notices",
        "usage_meters",
        "bundle_purchases",
        "meter_reports",
        "stripe_events",
        "subscriptions",
        "billing_customers",
    ):
        unprotect(table)
        op.drop_table(table)
    op.drop_column("marketplace_bundles", "sales")
    for column in reversed(PLAN_COLUMNS):
        op.drop_column("plans", column.name)
