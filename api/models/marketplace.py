"""The pattern marketplace: bundles of patterns, people's ratings and installs.

A bundle with ``tenant_id`` NULL is in the global catalogue everyone browses; a tenant's
bundle is seen by its members only. Installs count as downloads; one rating per person
per bundle (a new rating replaces the old one).
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
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

CATEGORIES = ("web", "data", "devops", "testing", "architecture", "tooling")


class Bundle(Timestamped, Base):
    __tablename__ = "marketplace_bundles"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint(
            "category IN (" + ", ".join(repr(c) for c in CATEGORIES) + ")", name="category"
        ),
        Index("ix_marketplace_bundles_tenant_id", "tenant_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    seed_key: Mapped[str | None] = mapped_column(
        String(100), unique=True, doc="Stable name of a bundle shipped with the platform."
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(32))
    price_cents: Mapped[int] = mapped_column(Integer, server_default="0")
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    featured: Mapped[bool] = mapped_column(Boolean, server_default="false")
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    # Counted as installs happen: each install row is its installer's organisation's, so
    # no one scope can count them all.
    downloads: Mapped[int] = mapped_column(Integer, server_default="0")
    # Paid purchases minus refunds, counted by the billing webhooks (platform scope).
    sales: Mapped[int] = mapped_column(Integer, server_default="0")


class BundlePattern(Base):
    """A pattern a bundle includes (a link: the pattern stays where it is)."""

    __tablename__ = "marketplace_bundle_patterns"

    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("marketplace_bundles.id", ondelete="CASCADE"), primary_key=True
    )
    pattern_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patterns.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, server_default="0")


class BundleRating(Base):
    __tablename__ = "marketplace_ratings"
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),)

    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("marketplace_bundles.id", ondelete="CASCADE"), primary_key=True
    )
    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BundleInstall(Base):
    """A person installed a bundle into their library; the count is the bundle's downloads."""

    __tablename__ = "marketplace_installs"

    bundle_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("marketplace_bundles.id", ondelete="CASCADE"), primary_key=True
    )
    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    installed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
