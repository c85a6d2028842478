"""Generate a notebook from a description (counted as one request of the plan's day)."""

from __future__ import annotations

import logging

from api.assistant import notebook, offline, prompts, usage
from api.assistant.errors import PromptTooLarge
from api.auth import HubUser
from api.core.db import Database
from api.generation.llm import LLMError, LLMProvider
from api.patterns.embedder import Embedder
from api.patterns.library import viewer_for
from api.schemas.assistant import MAX_DESCRIPTION_CHARS, NotebookIn, NotebookOut

log = logging.getLogger(__name__)

NOTEBOOK_MAX_TOKENS = 3000
NOTEBOOK_PATTERNS = 4


async def generate_notebook(
    database: Database,
    embedder: Embedder,
    provider: LLMProvider | None,
    user: HubUser,
    request: NotebookIn,
) -> NotebookOut:
    if len(request.description) > MAX_DESCRIPTION_CHARS:
        raise PromptTooLarge(
            f"The description is {len(request.description)} characters; the limit is "
            f"{MAX_DESCRIPTION_CHARS}. Describe the goal and the main steps only; for a whole "
            "project use project generation."
        )
    async with database.for_person(user.name) as session:
        await usage.take_request(session, user)
        if provider is not None:
            try:
                reply = await provider.complete(
                    prompts.notebook_messages(request.description), max_tokens=NOTEBOOK_MAX_TOKENS
                )
                await usage.record_tokens(
                    session,
                    user,
                    prompt_tokens=reply.prompt_tokens,
                    completion_tokens=reply.completion_tokens,
                    model_request=True,
                )
                title, document = notebook.model_notebook(request.description, reply.text)
                return NotebookOut(title=title, engine="model", notebook=document)
            except (LLMError, notebook.NotebookReplyInvalid) as exc:
                log.warning("notebook model failed for %s: %s; offline instead", user.name, exc)
        viewer = await viewer_for(session, user)
        hits = await offline.find(
            session,
            embedder,
            viewer,
            request.description[:1000],
            language="python",
            limit=NOTEBOOK_PATTERNS,
        )
        title, document = notebook.offline_notebook(request.description, hits)
        return NotebookOut(title=title, engine="offline", notebook=document)
