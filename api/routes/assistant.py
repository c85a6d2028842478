"""The assistant: chat (streamed NDJSON), inline completion, notebooks, conversations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import Response, StreamingResponse

from api.assistant import chat, completion, engines, generate, store, usage
from api.deps import CurrentUser, DatabaseDep, SessionDep, SettingsDep
from api.generation.llm import LLMProvider
from api.patterns.embedder import Embedder, get_embedder
from api.schemas.assistant import (
    ChatIn,
    CompleteIn,
    CompleteOut,
    ConversationOut,
    ConversationsOut,
    ConversationSummaryOut,
    MessageOut,
    NotebookIn,
    NotebookOut,
    StatusOut,
)

router = APIRouter(prefix="/assistant", tags=["assistant"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such conversation of yours."}
}
LIMITS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The prompt or context is too large; the message says by how much."},
    429: {"description": "Your plan's assistant requests for today are used up."},
}


def get_provider(settings: SettingsDep) -> LLMProvider | None:
    return engines.model_provider(settings)


def get_assistant_embedder(settings: SettingsDep) -> Embedder:
    return get_embedder(settings)


ProviderDep = Annotated[LLMProvider | None, Depends(get_provider)]
EmbedderDep = Annotated[Embedder, Depends(get_assistant_embedder)]


@router.get("/status", summary="Which engine answers, and your requests today")
async def assistant_status(
    user: CurrentUser, session: SessionDep, provider: ProviderDep
) -> StatusOut:
    today = await usage.today(session, user)
    reachable = None if provider is None else await engines.model_reachable(provider)
    return StatusOut(
        engine="offline" if provider is None else "model",
        model=None if provider is None else provider.model,
        model_reachable=reachable,
        requests_used_today=today.requests,
        requests_per_day=today.requests_per_day,
        prompt_tokens_today=today.prompt_tokens,
        completion_tokens_today=today.completion_tokens,
    )


@router.post(
    "/chat",
    summary="Ask; the answer streams as JSON lines (start, notice?, delta…, done | error)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "One event per line."},
        **NOT_FOUND,
        **LIMITS,
    },
)
async def assistant_chat(
    body: ChatIn,
    user: CurrentUser,
    database: DatabaseDep,
    provider: ProviderDep,
    embedder: EmbedderDep,
) -> StreamingResponse:
    exchange = await chat.prepare(database, user, body)
    stream = chat.ChatStream(database, embedder, provider, user, body, exchange)
    return StreamingResponse(
        stream.lines(),
        media_type="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/conversations", summary="Your conversations, newest first")
async def list_conversations(user: CurrentUser, session: SessionDep) -> ConversationsOut:
    rows = await store.list_conversations(session, user)
    return ConversationsOut(
        conversations=[
            ConversationSummaryOut(
                id=row.conversation.id,
                title=row.conversation.title,
                created_at=row.conversation.created_at,
                updated_at=row.conversation.updated_at,
                message_count=row.message_count,
            )
            for row in rows
        ]
    )


@router.get("/conversations/{conversation_id}", responses=NOT_FOUND)
async def read_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> ConversationOut:
    conversation = await store.owned(session, user, conversation_id)
    messages = await store.messages_of(session, conversation_id)
    return ConversationOut(
        id=conversation.id,
        title=conversation.title,
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
async def delete_conversation(
    conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> Response:
    await store.delete_conversation(session, user, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/complete", summary="Inline completion at the cursor", responses=LIMITS)
async def assistant_complete(
    body: CompleteIn,
    user: CurrentUser,
    database: DatabaseDep,
    provider: ProviderDep,
    embedder: EmbedderDep,
) -> CompleteOut:
    return await completion.complete(database, embedder, provider, user, body)


@router.post("/notebook", summary="A notebook (nbformat v4) from a description", responses=LIMITS)
async def assistant_notebook(
    body: NotebookIn,
    user: CurrentUser,
    database: DatabaseDep,
    provider: ProviderDep,
    embedder: EmbedderDep,
) -> NotebookOut:
    return await generate.generate_notebook(database, embedder, provider, user, body)
