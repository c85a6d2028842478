"""Invitations to an organisation: a mailed link whose token is kept only as its hash."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base

# A member's part in their organisation: admins run it, members belong to it.
TENANT_ROLES = ("member", "admin")


class OrganisationInvitation(Base):
    """An invitation by e-mail; used once (``accepted_at``), or revoked, or expired."""

    __tablename__ = "organisation_invitations"
    __table_args__ = (CheckConstraint("role IN ('member', 'admin')", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), server_default="member")
    # SHA-256 of the link's token, hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
