"""Tenants: the organisations whose patterns and members are kept apart."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

# What an organisation is; the pages offer these.
ORGANISATION_KINDS = ("company", "university", "class")


class Tenant(Timestamped, Base):
    """An organisation (company, university, class) whose members share private data.

    People with a confirmed address at one of ``email_domains`` may join on their own when
    ``auto_join`` is on; ``seats`` caps the members (None: no cap)."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("kind IN ('company', 'university', 'class')", name="kind"),
        CheckConstraint("seats IS NULL OR seats >= 0", name="seats"),
        CheckConstraint(
            "(brand_primary IS NULL OR brand_primary ~ '^#[0-9a-f]{6}$') "
            "AND (brand_accent IS NULL OR brand_accent ~ '^#[0-9a-f]{6}$')",
            name="brand_colours",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), server_default="company")
    email_domains: Mapped[list[str]] = mapped_column(ARRAY(Text()), server_default="{}")
    auto_join: Mapped[bool] = mapped_column(Boolean, server_default="false")
    seats: Mapped[int | None] = mapped_column(Integer)

    # Single sign-on through the organisation's OpenID Connect provider.
    sso_issuer: Mapped[str | None] = mapped_column(String(500))
    sso_client_id: Mapped[str | None] = mapped_column(String(255))
    sso_client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    sso_enabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # The domains a platform admin approved for it (a subset of ``email_domains``): only
    # these are sent to its provider, and only at these does it make accounts.
    sso_approved_domains: Mapped[list[str]] = mapped_column(ARRAY(Text()), server_default="{}")
    sso_approved_by: Mapped[str | None] = mapped_column(String(255))
    sso_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Branding (white-label) for its members and its sign-in page.
    brand_name: Mapped[str | None] = mapped_column(String(200))
    brand_logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    brand_logo_type: Mapped[str | None] = mapped_column(String(64))
    brand_primary: Mapped[str | None] = mapped_column(String(7))
    brand_accent: Mapped[str | None] = mapped_column(String(7))

    # Its own plan (its generation pool's size), and what its members get.
    plan_code: Mapped[str | None] = mapped_column(ForeignKey("plans.code"))
    member_plan_code: Mapped[str | None] = mapped_column(ForeignKey("plans.code"))
    images: Mapped[list[str]] = mapped_column(ARRAY(Text()), server_default="{}")
