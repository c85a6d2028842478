"""A chat exchange: checks and bookkeeping first, then the answer as NDJSON lines.

Before streaming (ordinary JSON errors): sizes (413), the conversation is the caller's
(404), the plan's requests today (429). Then ``start``, optional ``notice``, ``delta``s,
``done`` (or a last ``error``). The question and the answer are stored, tokens recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from api.assistant import engines, offline, prompts, store, usage
from api.assistant.errors import PromptTooLarge
from api.auth import HubUser
from api.core.db import Database
from api.generation.llm import (
    LLMError,
    LLMProvider,
    LLMUnavailable,
    StreamUsage,
    estimate_tokens,
    stream_text,
)
from api.patterns.embedder import Embedder
from api.patterns.library import viewer_for
from api.schemas.assistant import (
    MAX_MESSAGE_CHARS,
    MAX_NOTEBOOK_CHARS,
    MAX_SELECTION_CHARS,
    MAX_TRACEBACK_CHARS,
    ChatIn,
)

log = logging.getLogger(__name__)

CHAT_MAX_TOKENS = 1500
MODEL_DOWN_NOTICE = "The model endpoint is unreachable; the offline engine answers."
INTERRUPTED_NOTE = "\n\n[The answer stopped here: the reader left before it was complete.]"


def check_sizes(request: ChatIn) -> None:
    """Refuse oversized input with what to do about it (413)."""
    if len(request.message) > MAX_MESSAGE_CHARS:
        raise PromptTooLarge(
            f"The prompt is {len(request.message)} characters; the limit is "
            f"{MAX_MESSAGE_CHARS}. Shorten it, or select only the code that matters."
        )
    context = request.context
    if context is None:
        return
    if context.notebook is not None and len(context.notebook) > MAX_NOTEBOOK_CHARS:
        raise PromptTooLarge(
            f"The notebook excerpt is {len(context.notebook)} characters; the limit is "
            f"{MAX_NOTEBOOK_CHARS}. Send the cells around the cursor only."
        )
    if context.selection is not None and len(context.selection) > MAX_SELECTION_CHARS:
        raise PromptTooLarge(
            f"The selection is {len(context.selection)} characters; the limit is "
            f"{MAX_SELECTION_CHARS}. Select less code."
        )
    if context.error is not None:
        size = sum(len(line) for line in context.error.traceback)
        if size > MAX_TRACEBACK_CHARS:
            raise PromptTooLarge(
                f"The traceback is {size} characters; the limit is {MAX_TRACEBACK_CHARS}. "
                "Send its last frames."
            )


@dataclass
class Exchange:
    """A prepared exchange: the stored question, the history a model sees."""

    conversation_id: uuid.UUID
    answer_id: uuid.UUID
    history: list[dict[str, str]]


async def prepare(database: Database, user: HubUser, request: ChatIn) -> Exchange:
    check_sizes(request)
    async with database.for_person(user.name) as session:
        if request.conversation_id is not None:
            await store.owned(session, user, request.conversation_id)
        await usage.take_request(session, user)
        conversation = await store.open_conversation(
            session, user, request.conversation_id, request.message
        )
        earlier = await store.history(session, conversation.id)
        await store.add_message(
            session, conversation, role="user", content=request.message, action=request.action
        )
        await session.commit()
        return Exchange(
            conversation.id,
            uuid.uuid4(),
            [{"role": m.role, "content": m.content} for m in earlier],
        )


def line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False) + "\n").encode()


class ChatStream:
    """Produces the NDJSON lines of one prepared exchange and stores the answer."""

    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        provider: LLMProvider | None,
        user: HubUser,
        request: ChatIn,
        exchange: Exchange,
    ) -> None:
        self.database = database
        self.embedder = embedder
        self.provider = provider
        self.user = user
        self.request = request
        self.exchange = exchange
        self.parts: list[str] = []
        self.tokens = StreamUsage()
        self.engine = "offline" if provider is None else "model"
        self.stored = False

    async def lines(self) -> AsyncIterator[bytes]:
        """The exchange's lines. A reader who leaves mid-answer loses nothing: what was said
        so far is stored, marked as cut short, and its tokens are counted."""
        try:
            async for chunk in self._lines():
                yield chunk
        finally:
            if not self.stored:
                with anyio.CancelScope(shield=True):
                    await self._store_interrupted()

    async def _store_interrupted(self) -> None:
        if self.engine == "model" and not self.tokens.completion_tokens:
            self.tokens.completion_tokens = estimate_tokens("".join(self.parts))
            self.tokens.prompt_tokens = estimate_tokens(self.request.message)
        self.parts.append(INTERRUPTED_NOTE)
        try:
            await self._store(self.engine)
        except Exception:
            log.exception("storing the interrupted answer for %s failed", self.user.name)

    async def _lines(self) -> AsyncIterator[bytes]:
        provider = self.provider
        yield line(
            {
                "type": "start",
                "conversation_id": str(self.exchange.conversation_id),
                "message_id": str(self.exchange.answer_id),
                "engine": "offline" if provider is None else "model",
                "model": None if provider is None else provider.model,
            }
        )
        engine = "offline"
        failure: dict[str, str] | None = None
        try:
            if provider is not None:
                try:
                    async for delta in self._model(provider):
                        yield line({"type": "delta", "text": delta})
                    engine = "model"
                    engines.remember_reachability(provider, True)
                except LLMError as exc:
                    if isinstance(exc, LLMUnavailable) and exc.upstream_status == 0:
                        engines.remember_reachability(provider, False)
                    if self.parts:  # part of the answer is out: say it broke off
                        engine = "model"
                        failure = {"code": exc.code, "message": f"The answer broke off: {exc}"}
                    else:
                        log.warning("assistant model failed for %s: %s", self.user.name, exc)
                        self.engine = "offline"
                        yield line({"type": "notice", "message": MODEL_DOWN_NOTICE})
            if engine == "offline":
                reason = offline.NO_MODEL if provider is None else offline.MODEL_DOWN
                async for delta in self._offline(reason):
                    yield line({"type": "delta", "text": delta})
        except Exception:
            log.exception("assistant answer failed for %s", self.user.name)
            failure = {
                "code": "internal_error",
                "message": "Something went wrong on our side; the error was logged.",
            }
        self.stored = True
        try:
            with anyio.CancelScope(shield=True):  # a reader leaving now must not lose it
                await self._store(engine)
        except Exception:  # e.g. the conversation was deleted meanwhile: the answer stands
            log.exception("storing the assistant answer for %s failed", self.user.name)
            failure = failure or {
                "code": "not_saved",
                "message": "The answer could not be saved to this conversation.",
            }
        if failure is not None:
            yield line({"type": "error", **failure})
            return
        yield line(
            {
                "type": "done",
                "engine": engine,
                "usage": {
                    "prompt_tokens": self.tokens.prompt_tokens,
                    "completion_tokens": self.tokens.completion_tokens,
                },
            }
        )

    async def _model(self, provider: LLMProvider) -> AsyncIterator[str]:
        messages = prompts.chat_messages(
            self.request.message,
            self.request.action,
            self.request.context,
            self.exchange.history,
        )
        async for delta in stream_text(provider, messages, self.tokens, max_tokens=CHAT_MAX_TOKENS):
            self.parts.append(delta)
            yield delta

    async def _offline(self, reason: str) -> AsyncIterator[str]:
        # The label goes out at once; the search follows.
        first = offline.label(reason)
        self.parts.append(first)
        yield first
        question = offline.OfflineRequest(
            self.request.action, self.request.message, self.request.context
        )
        kinds, language = offline.search_scope(question)
        async with self.database.for_person(self.user.name) as session:
            viewer = await viewer_for(session, self.user)
            hits = await offline.find(
                session,
                self.embedder,
                viewer,
                offline.query_for(question),
                language=language,
                kinds=kinds,
            )
            body = offline.answer_body(question, hits)
        for piece in offline.chunks(body):
            self.parts.append(piece)
            yield piece

    async def _store(self, engine: str) -> None:
        model = self.provider.model if engine == "model" and self.provider else None
        async with self.database.for_person(self.user.name) as session:
            conversation = await store.owned(session, self.user, self.exchange.conversation_id)
            await store.add_message(
                session,
                conversation,
                role="assistant",
                content="".join(self.parts),
                action=self.request.action,
                engine=engine,
                model=model,
                prompt_tokens=self.tokens.prompt_tokens,
                completion_tokens=self.tokens.completion_tokens,
                message_id=self.exchange.answer_id,
            )
            await session.commit()
            if engine == "model":
                await usage.record_tokens(
                    session,
                    self.user,
                    prompt_tokens=self.tokens.prompt_tokens,
                    completion_tokens=self.tokens.completion_tokens,
                    model_request=True,
                )
