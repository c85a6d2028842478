"""Billing: Stripe customers and subscriptions, the webhook events already applied,
bought bundles, daily usage meters, the notices they raised and the usage owed to Stripe.

Stripe holds the truth about money; these rows are the platform's copy of what it needs to
decide limits without asking Stripe on every request. A customer and a subscription belong
either to a person (``hub_name``) or to an organisation (``tenant_id``), never both.
"""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

# Exactly one owner: a person or an organisation.
ONE_OWNER = "(hub_name IS NULL) <> (tenant_id IS NULL)"

# What the platform meters per person and day. Session minutes, generations and assistant
# requests have ledgers of their own (server_sessions, projects, assistant_usage).
METERS = (
    "api_calls",
    "compute_seconds",
    "storage_bytes",
    "patterns_used",
    "agent_steps",
    "assistant_tokens",
)


class BillingCustomer(Base):
    """The Stripe customer that pays for a person's or an organisation's plan."""

    __tablename__ = "billing_customers"
    __table_args__ = (
        CheckConstraint(ONE_OWNER, name="one_owner"),
        Index(
            "uq_billing_customers_person",
            "hub_name",
            unique=True,
            postgresql_where=text("hub_name IS NOT NULL"),
        ),
        Index(
            "uq_billing_customers_organisation",
            "tenant_id",
            unique=True,
            postgresql_where=text("tenant_id IS NOT NULL"),
        ),
    )

    stripe_customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hub_name: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Subscription(Timestamped, Base):
    """The platform's copy of one Stripe subscription, rewritten from Stripe's own object
    whenever an event about it arrives (never from the event's possibly stale payload)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(ONE_OWNER, name="one_owner"),
        Index("ix_subscriptions_hub_name", "hub_name"),
        Index("ix_subscriptions_tenant_id", "tenant_id"),
    )

    stripe_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255))
    hub_name: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    plan_code: Mapped[str] = mapped_column(ForeignKey("plans.code"))
    price_id: Mapped[str] = mapped_column(String(255))
    interval: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer, server_default="1")
    trial_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default="false")
    past_due_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the grace period of a failed payment ran out and the plan was settled (once).
    grace_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    trial_notice_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Stripe's own "created" of the subscription: the newest of several decides.
    stripe_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StripeEvent(Base):
    """A webhook event whose effect is committed: written in the same transaction, so a
    repeated delivery finds it and changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BundlePurchase(Base):
    """A paid bundle bought through Checkout: the entitlement to install it."""

    __tablename__ = "bundle_purchases"
    __table_args__ = (
        CheckConstraint("status IN ('paid', 'refunded')", name="status"),
        Index(
            "uq_bundle_purchases_paid",
            "bundle_id",
            "hub_name",
            unique=True,
            postgresql_where=text("status = 'paid'"),
        ),
        Index("ix_bundle_purchases_hub_name", "hub_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("marketplace_bundles.id", ondelete="CASCADE")
    )
    hub_name: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    checkout_session_id: Mapped[str] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), server_default="paid")
    purchased_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageMeter(Base):
    """How much of one meter a person used on one day (UTC), counted as it happens.

    ``tenant_id`` is the person's organisation when the use happened, so an organisation's
    day is the sum of its rows."""

    __tablename__ = "usage_meters"
    __table_args__ = (
        CheckConstraint("meter IN (" + ", ".join(repr(m) for m in METERS) + ")", name="meter"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_usage_meters_tenant_day", "tenant_id", "day"),
    )

    hub_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    meter: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    quantity: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class UsageNotice(Base):
    """A notice that a person reached 80% or 100% of a limit: raised once per limit,
    threshold and day, shown in JupyterLab and on the hub's pages, and mailed."""

    __tablename__ = "usage_notices"
    __table_args__ = (CheckConstraint("threshold IN (80, 100)", name="threshold"),)

    hub_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    limit_name: Mapped[str] = mapped_column(String(32), primary_key=True)
    threshold: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    mailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MeterReport(Base):
    """Usage beyond a plan's limit that the plan bills as overage, waiting to be sent to
    Stripe as a meter event; the row id is the event's identifier, so a resend after a
    crash is counted once."""

    __tablename__ = "meter_reports"
    __table_args__ = (
        Index("ix_meter_reports_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(255))
    event_name: Mapped[str] = mapped_column(String(100))
    value: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
