"""The usage ledger: one row per server session, keyed by the hub's own start time."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base


class ServerSession(Base):
    """One run of one user's server, from start to stop: the usage ledger's unit.

    ``started_at`` comes from the hub and, with the user and server name, identifies the
    run: a start reported twice (hub restart, retry) is the same row, so minutes are
    counted once. An open session (no ``ended_at``) counts up to now.
    """

    __tablename__ = "server_sessions"
    __table_args__ = (
        UniqueConstraint("hub_name", "server_name", "started_at", name="uq_server_sessions_run"),
        Index("ix_server_sessions_user_started", "hub_name", "started_at"),
        Index("ix_server_sessions_open", "last_seen_at", postgresql_where=text("ended_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    hub_name: Mapped[str] = mapped_column(String(255))
    server_name: Mapped[str] = mapped_column(String(255), server_default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(64))
    plan_code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
