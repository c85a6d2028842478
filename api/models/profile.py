"""A hub user's platform profile: display name, e-mail, plan and organisation."""

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.models.base import Base, Timestamped
from api.models.plan import Plan
from api.models.tenant import Tenant

DEFAULT_PLAN = "free"


class UserProfile(Timestamped, Base):
    """Platform data about a hub user. The hub owns identity; this row is keyed by hub name."""

    __tablename__ = "user_profiles"
    __table_args__ = (CheckConstraint("tenant_role IN ('member', 'admin')", name="tenant_role"),)

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    hub_name: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    plan_code: Mapped[str] = mapped_column(ForeignKey("plans.code"), server_default=DEFAULT_PLAN)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    # In their organisation: "admin" runs it, "member" belongs to it (None: in none).
    tenant_role: Mapped[str | None] = mapped_column(String(16))

    plan: Mapped[Plan] = relationship(lazy="joined")
    tenant: Mapped[Tenant | None] = relationship(lazy="joined")
