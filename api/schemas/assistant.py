"""Request and reply bodies of the assistant endpoints (contract: issue #6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Sizes are checked in the service (413 with a message a person can act on), not by
# pydantic (which would answer 422 for a prompt that is merely too long).
MAX_MESSAGE_CHARS = 20_000
MAX_NOTEBOOK_CHARS = 60_000
MAX_SELECTION_CHARS = 20_000
MAX_TRACEBACK_CHARS = 20_000
MAX_PREFIX_CHARS = 20_000
MAX_DESCRIPTION_CHARS = 5_000

Action = Literal["chat", "explain_error", "fix_error"]
Engine = Literal["model", "offline"]


class ErrorContext(BaseModel):
    ename: str = Field(max_length=200)
    evalue: str = Field(default="", max_length=5000)
    traceback: list[str] = Field(default_factory=list)


class ChatContext(BaseModel):
    path: str | None = Field(default=None, max_length=1000)
    language: str | None = Field(default=None, max_length=64)
    notebook: str | None = Field(
        default=None, description="An excerpt of the open notebook or file (≤ 60000 chars)."
    )
    selection: str | None = None
    error: ErrorContext | None = None


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, description="The question (1..20000 characters).")
    conversation_id: uuid.UUID | None = None
    action: Action = "chat"
    context: ChatContext | None = None


class StatusOut(BaseModel):
    engine: Engine
    model: str | None
    model_reachable: bool | None
    requests_used_today: int
    requests_per_day: int | None
    prompt_tokens_today: int = 0
    completion_tokens_today: int = 0


class ConversationSummaryOut(BaseModel):
    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class ConversationsOut(BaseModel):
    conversations: list[ConversationSummaryOut]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    engine: str | None = Field(description="model or offline (None for the user's messages).")
    model: str | None = Field(description="The model's name when a model answered.")
    created_at: datetime


class ConversationOut(BaseModel):
    id: uuid.UUID
    title: str
    messages: list[MessageOut]


class CompleteIn(BaseModel):
    prefix: str = ""
    suffix: str = ""
    language: str = Field(default="python", max_length=64)
    path: str | None = Field(default=None, max_length=1000)


class CompletionItem(BaseModel):
    insertText: str = Field(description="jupyter-ai's wire name: the text to insert.")


class CompleteOut(BaseModel):
    items: list[CompletionItem]
    engine: Engine


class NotebookIn(BaseModel):
    description: str = Field(min_length=1, description="What the notebook should do (≤ 5000).")


class NotebookOut(BaseModel):
    title: str
    engine: Engine
    notebook: dict[str, Any] = Field(description="An nbformat v4 notebook.")
