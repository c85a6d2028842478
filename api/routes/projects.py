"""Project generation: create, follow, cancel, retry, time machine, download."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from api.deps import CurrentUser, IdentityDep, SessionDep, SettingsDep
from api.errors import NotAuthenticated
from api.generation import eventlog, service, workspace
from api.generation.state import diff
from api.schemas.projects import (
    ProjectCreate,
    ProjectEventOut,
    ProjectOut,
    ProjectStateOut,
    RestoreRequest,
    TimePoint,
    WorkspaceOut,
    WorkspaceRequest,
)

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_project(
    body: ProjectCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProjectOut:
    """Queue a project; the answer comes at once, a worker runs the pipeline."""
    project = await service.create_project(session, settings, user, body)
    return ProjectOut.model_validate(project)


@router.get("")
async def list_projects(user: CurrentUser, session: SessionDep) -> list[ProjectOut]:
    return [ProjectOut.model_validate(p) for p in await service.list_projects(session, user)]


@router.get("/{project_id}")
async def get_project(project_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ProjectOut:
    return ProjectOut.model_validate(await service.owned_project(session, user, project_id))


@router.post("/{project_id}/cancel")
async def cancel_project(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProjectOut:
    project = await service.cancel_project(session, settings, user, project_id)
    return ProjectOut.model_validate(project)


@router.post("/{project_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_project(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProjectOut:
    project = await service.retry_project(session, settings, user, project_id)
    return ProjectOut.model_validate(project)


@router.get("/{project_id}/events")
async def project_events(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[ProjectEventOut]:
    await service.owned_project(session, user, project_id)
    events = await eventlog.events_after(session, project_id, after, limit=limit)
    return [ProjectEventOut.model_validate(e) for e in events]


@router.get("/{project_id}/points")
async def time_points(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[TimePoint]:
    """Points the time machine can go to: every event, with its step."""
    await service.owned_project(session, user, project_id)
    events = await eventlog.all_events(session, project_id)
    return [
        TimePoint(seq=e.seq, type=e.type, step=e.step, occurred_at=e.occurred_at) for e in events
    ]


@router.get("/{project_id}/state")
async def project_state(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    seq: Annotated[int | None, Query(ge=0)] = None,
    at: datetime | None = None,
) -> ProjectStateOut:
    """Files, decisions and gate results as they were at ``seq`` or time ``at`` (default: now)."""
    state = await service.state_at(session, user, project_id, seq=seq, at=at)
    return ProjectStateOut(**state.as_dict())


@router.get("/{project_id}/diff")
async def project_diff(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    from_seq: Annotated[int, Query(alias="from", ge=0)],
    to_seq: Annotated[int | None, Query(alias="to", ge=0)] = None,
) -> dict[str, object]:
    before = await service.state_at(session, user, project_id, seq=from_seq)
    after = await service.state_at(session, user, project_id, seq=to_seq)
    return diff(before, after)


@router.post("/{project_id}/restore")
async def restore_project(
    project_id: uuid.UUID, body: RestoreRequest, user: CurrentUser, session: SessionDep
) -> ProjectStateOut:
    """Make the files what they were at ``seq``; appends events, deletes nothing."""
    state = await service.restore(session, user, project_id, body.seq)
    return ProjectStateOut(**state.as_dict())


@router.get("/{project_id}/download")
async def download_project(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    seq: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    state = await service.state_at(session, user, project_id, seq=seq)
    name = f"project-{str(project_id)[:8]}"
    return Response(
        service.zip_files(state.files, name),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@router.post("/{project_id}/open-in-workspace")
async def open_in_workspace(
    project_id: uuid.UUID,
    body: WorkspaceRequest,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    identity: IdentityDep,
) -> WorkspaceOut:
    """Write the files into your running Jupyter server with your token (contents API)."""
    folder = workspace.check_folder(body.folder or f"projects/{str(project_id)[:8]}")
    state = await service.state_at(session, user, project_id, seq=body.seq)
    token = identity.token_from_request(request)
    if token is None:
        raise NotAuthenticated("A hub token is needed to write to your server.")
    count = await workspace.write_to_workspace(
        state.files, hub_url=settings.hub_url, user=user.name, token=token, folder=folder
    )
    return WorkspaceOut(
        folder=folder, files=count, url=f"{settings.hub_url}user/{user.name}/lab/tree/{folder}"
    )
