"""The live event stream of a project: WebSocket and its Server-Sent Events twin.

Both send every event with its sequence number, in order, starting after ``after``; a
client that reconnects with the last number it saw gets exactly what it missed. Events
are read from the database (the api keeps no state) whenever the appending transaction's
NOTIFY arrives (:mod:`api.generation.notify`); a slow poll every ``FALLBACK_POLL_SECONDS``
covers a lost notification connection.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.auth import HubIdentity, HubUser
from api.core.db import Database
from api.core.tenancy import Scope, scope_of
from api.deps import CurrentUser, DatabaseDep, SessionDep
from api.errors import ApiError
from api.generation import eventlog, notify, service
from api.models import Project, ProjectEvent
from api.schemas.projects import ProjectEventOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["projects"])

FALLBACK_POLL_SECONDS = 2.0
FINAL_TYPES = ("project.finished", "project.cancelled")


def event_json(event: ProjectEvent) -> dict[str, Any]:
    """The same JSON as ``GET /projects/{id}/events`` gives for the event."""
    return ProjectEventOut.model_validate(event).model_dump(mode="json")


async def follow(
    database: Database, scope: Scope, project_id: uuid.UUID, after: int, *, until_final: bool
) -> AsyncIterator[dict[str, Any]]:
    """Events after ``after`` as they are appended, read in the follower's ``scope``;
    ends after a final event if asked."""
    async with notify.listening(database, project_id) as wait:
        while True:
            async with database.scoped(scope) as session:
                events = await eventlog.events_after(session, project_id, after)
            for event in events:
                after = event.seq
                yield event_json(event)
                if until_final and event.type in FINAL_TYPES:
                    return
            if not events:
                if until_final and await _is_final(database, scope, project_id):
                    return
                await wait(FALLBACK_POLL_SECONDS)


async def _is_final(database: Database, scope: Scope, project_id: uuid.UUID) -> bool:
    async with database.scoped(scope) as session:
        project = await session.get(Project, project_id)
    return project is None or project.status in ("succeeded", "failed", "cancelled")


@router.get("/projects/{project_id}/stream")
async def stream_sse(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    database: DatabaseDep,
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
    follow_until_done: bool = True,
) -> StreamingResponse:
    """Server-Sent Events; ``Last-Event-ID`` (set by browsers on reconnect) wins over ``after``."""
    await service.owned_project(session, user, project_id)
    scope = scope_of(session) or Scope()
    last = request.headers.get("last-event-id")
    if last is not None and last.isdigit():
        after = int(last)

    async def body() -> AsyncIterator[str]:
        async for event in follow(
            database, scope, project_id, after, until_final=follow_until_done
        ):
            yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


@router.websocket("/ws/orchestration/{project_id}")
async def stream_websocket(
    websocket: WebSocket, project_id: uuid.UUID, after: Annotated[int, Query(ge=0)] = 0
) -> None:
    app_state = websocket.app.state
    identity: HubIdentity = app_state.identity
    database: Database = app_state.database
    try:
        user: HubUser = await identity.user_for_request(cast(Request, websocket))
        async with database.for_person(user.name) as session:
            await service.owned_project(session, user, project_id)
            scope = scope_of(session) or Scope()
    except ApiError as exc:
        # 4000 + HTTP status: the client sees why (4401 not signed in, 4404 not yours).
        await websocket.close(code=4000 + exc.status, reason=exc.message[:120])
        return
    await websocket.accept()
    try:
        async for event in follow(database, scope, project_id, after, until_final=False):
            await websocket.send_json(event)
    except WebSocketDisconnect:
        return
