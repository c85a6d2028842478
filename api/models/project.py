"""Generated projects and their append-only, per-project numbered event log."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

PROJECT_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Project(Timestamped, Base):
    """One generation request. Its history is ``project_events``; this row is a summary."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(repr(s) for s in PROJECT_STATUSES) + ")", name="status"
        ),
        Index("ix_projects_owner_created", "owner", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    owner: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    description: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    engine: Mapped[str | None] = mapped_column(String(100))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class ProjectEvent(Base):
    """One step of a project's history, numbered 1, 2, 3... per project without gaps.

    A trigger refuses UPDATE, DELETE and TRUNCATE; ``(project_id, seq)`` is unique, so two
    writers can never record the same position twice.
    """

    __tablename__ = "project_events"
    __table_args__ = (
        UniqueConstraint("project_id", "seq", name="uq_project_events_project_id_seq"),
        CheckConstraint("seq > 0", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(100))
    step: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
