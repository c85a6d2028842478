"""Conversations and their messages, always scoped to their owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.assistant.errors import ConversationNotFound
from api.auth import HubUser
from api.models import AssistantConversation, AssistantMessage

TITLE_CHARS = 80
# How many earlier messages a model sees of a conversation.
HISTORY_MESSAGES = 10


@dataclass(frozen=True)
class ConversationSummary:
    conversation: AssistantConversation
    message_count: int


def title_for(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


async def owned(
    session: AsyncSession, user: HubUser, conversation_id: uuid.UUID
) -> AssistantConversation:
    conversation = await session.get(AssistantConversation, conversation_id)
    if conversation is None or conversation.owner != user.name:
        raise ConversationNotFound(f"No conversation {conversation_id} of yours.")
    return conversation


async def open_conversation(
    session: AsyncSession, user: HubUser, conversation_id: uuid.UUID | None, first_message: str
) -> AssistantConversation:
    """The caller's conversation, or a new one titled after the first message."""
    if conversation_id is not None:
        return await owned(session, user, conversation_id)
    conversation = AssistantConversation(
        id=uuid.uuid4(), owner=user.name, title=title_for(first_message) or "Conversation"
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def add_message(
    session: AsyncSession,
    conversation: AssistantConversation,
    *,
    role: str,
    content: str,
    action: str = "chat",
    engine: str | None = None,
    model: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    message_id: uuid.UUID | None = None,
) -> AssistantMessage:
    message = AssistantMessage(
        id=message_id or uuid.uuid4(),
        conversation_id=conversation.id,
        role=role,
        action=action,
        content=content,
        engine=engine,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        created_at=datetime.now(UTC),
    )
    session.add(message)
    conversation.updated_at = message.created_at
    await session.flush()
    return message


async def history(
    session: AsyncSession, conversation_id: uuid.UUID, limit: int = HISTORY_MESSAGES
) -> list[AssistantMessage]:
    """The last ``limit`` messages, oldest first."""
    rows = await session.scalars(
        select(AssistantMessage)
        .where(AssistantMessage.conversation_id == conversation_id)
        .order_by(AssistantMessage.created_at.desc(), AssistantMessage.id)
        .limit(limit)
    )
    return list(reversed(list(rows)))


async def messages_of(session: AsyncSession, conversation_id: uuid.UUID) -> list[AssistantMessage]:
    rows = await session.scalars(
        select(AssistantMessage)
        .where(AssistantMessage.conversation_id == conversation_id)
        .order_by(AssistantMessage.created_at, AssistantMessage.id)
    )
    return list(rows)


async def list_conversations(
    session: AsyncSession, user: HubUser, limit: int = 100
) -> list[ConversationSummary]:
    counts = (
        select(AssistantMessage.conversation_id, func.count().label("n"))
        .group_by(AssistantMessage.conversation_id)
        .subquery()
    )
    rows = await session.execute(
        select(AssistantConversation, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.conversation_id == AssistantConversation.id)
        .where(AssistantConversation.owner == user.name)
        .order_by(AssistantConversation.updated_at.desc(), AssistantConversation.id)
        .limit(limit)
    )
    return [ConversationSummary(conversation, int(n)) for conversation, n in rows.all()]


async def delete_conversation(
    session: AsyncSession, user: HubUser, conversation_id: uuid.UUID
) -> None:
    await owned(session, user, conversation_id)
    await session.execute(
        delete(AssistantConversation).where(AssistantConversation.id == conversation_id)
    )
    await session.commit()
