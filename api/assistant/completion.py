"""Inline completion: the model's continuation, or a pattern for a comment, or nothing.

Offline completions cost nothing and are not counted; a model completion counts as one
request of the plan's day and its tokens. When the day's requests are used up, completion
quietly answers offline: ghost text should never show an error.
"""

from __future__ import annotations

import copy
import logging

from api.assistant import offline, prompts, usage
from api.assistant.errors import AssistantLimitReached, PromptTooLarge
from api.auth import HubUser
from api.core.db import Database
from api.generation.llm import LLMError, LLMProvider, StreamUsage, stream_text
from api.patterns.embedder import Embedder
from api.patterns.library import viewer_for
from api.schemas.assistant import MAX_PREFIX_CHARS, CompleteIn, CompleteOut, CompletionItem

log = logging.getLogger(__name__)

COMPLETION_MAX_TOKENS = 64


def check_sizes(request: CompleteIn) -> None:
    for name, text in (("prefix", request.prefix), ("suffix", request.suffix)):
        if len(text) > MAX_PREFIX_CHARS:
            raise PromptTooLarge(
                f"The {name} is {len(text)} characters; the limit is {MAX_PREFIX_CHARS}. "
                f"Send the text nearest the cursor only."
            )


async def complete(
    database: Database,
    embedder: Embedder,
    provider: LLMProvider | None,
    user: HubUser,
    request: CompleteIn,
) -> CompleteOut:
    check_sizes(request)
    if provider is not None:
        text = await _model_completion(database, provider, user, request)
        if text is not None:
            items = [CompletionItem(insertText=text)] if text.strip() else []
            return CompleteOut(items=items, engine="model")
    return await _offline_completion(database, embedder, user, request)


async def _model_completion(
    database: Database, provider: LLMProvider, user: HubUser, request: CompleteIn
) -> str | None:
    async with database.for_person(user.name) as session:
        try:
            await usage.take_request(session, user)
        except AssistantLimitReached:
            return None
        tokens = StreamUsage()
        messages = prompts.complete_messages(request.prefix, request.suffix, request.language)
        # Ghost text is only useful at once: no retries, a failed try answers offline.
        quick = copy.copy(provider)
        quick.max_retries = 0
        try:
            parts = [
                delta
                async for delta in stream_text(
                    quick, messages, tokens, max_tokens=COMPLETION_MAX_TOKENS, temperature=0.1
                )
            ]
        except LLMError as exc:
            log.warning("completion model failed for %s: %s", user.name, exc)
            return None
        await usage.record_tokens(
            session,
            user,
            prompt_tokens=tokens.prompt_tokens,
            completion_tokens=tokens.completion_tokens,
            model_request=True,
        )
    return prompts.strip_fences("".join(parts))


async def _offline_completion(
    database: Database, embedder: Embedder, user: HubUser, request: CompleteIn
) -> CompleteOut:
    comment = offline.comment_before_cursor(request.prefix)
    if comment is None:
        return CompleteOut(items=[], engine="offline")
    async with database.for_person(user.name) as session:
        viewer = await viewer_for(session, user)
        hits = await offline.find(
            session, embedder, viewer, comment, language=request.language, limit=1
        )
    items = [
        CompletionItem(insertText=offline.completion_text(request.prefix, code))
        for hit in offline.relevant(hits, strict=True)
        if (code := offline.main_code(hit.pattern))
    ]
    return CompleteOut(items=items, engine="offline")
