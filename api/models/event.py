"""The platform's append-only event log: who did what to which stream, and when."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base


class Event(Base):
    """One entry of the append-only event log.

    A database trigger refuses UPDATE, DELETE and TRUNCATE on this table: history is only
    ever added to. ``stream`` groups the events of one subject (``user:alice``,
    ``project:<id>``) so they can be replayed in order of ``id``.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_stream", "stream", "id"),
        Index("ix_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    stream: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
