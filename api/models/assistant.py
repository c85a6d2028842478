"""The assistant inside JupyterLab: conversations, their messages, and usage per user per day."""

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

MESSAGE_ROLES = ("user", "assistant")


class AssistantConversation(Timestamped, Base):
    """One chat of one user. Only its owner ever reads it; others get 404."""

    __tablename__ = "assistant_conversations"
    __table_args__ = (Index("ix_assistant_conversations_owner_updated", "owner", "updated_at"),)

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    owner: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))


class AssistantMessage(Base):
    """A question or an answer; ``engine`` (model or offline) and ``model`` say who answered."""

    __tablename__ = "assistant_messages"
    __table_args__ = (
        CheckConstraint("role IN (" + ", ".join(repr(r) for r in MESSAGE_ROLES) + ")", name="role"),
        Index("ix_assistant_messages_conversation_created", "conversation_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("assistant_conversations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), server_default="chat")
    content: Mapped[str] = mapped_column(Text)
    engine: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AssistantUsage(Base):
    """Requests and model tokens of one user on one UTC day; the plan's limit reads this."""

    __tablename__ = "assistant_usage"
    __table_args__ = (
        CheckConstraint(
            "requests >= 0 AND model_requests >= 0 AND prompt_tokens >= 0 "
            "AND completion_tokens >= 0",
            name="counts_not_negative",
        ),
    )

    hub_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, server_default="0")
    model_requests: Mapped[int] = mapped_column(Integer, server_default="0")
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
