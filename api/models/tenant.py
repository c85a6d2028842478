"""Tenants: the organisations whose patterns and members are kept apart."""

import uuid

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped


class Tenant(Timestamped, Base):
    """An organisation (company, university, class) whose members share private data."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
