"""What the routes do with projects: create, read (owner only), cancel, retry, restore."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.core.config import Settings
from api.generation import eventlog, queue
from api.generation.errors import ProjectNotFound, ProjectStateConflict
from api.generation.state import ProjectState, rebuild, seq_at_time
from api.models import Project, ProjectEvent
from api.patterns.library import viewer_for
from api.schemas.projects import ProjectCreate


async def create_project(
    session: AsyncSession, settings: Settings, user: HubUser, request: ProjectCreate
) -> Project:
    viewer = await viewer_for(session, user)
    project = Project(
        id=uuid.uuid4(),
        owner=user.name,
        tenant_id=viewer.tenant_id,
        description=request.description,
        options=request.options.model_dump(),
        status="queued",
    )
    session.add(project)
    await session.flush()
    await eventlog.append(
        session,
        project.id,
        "project.created",
        {"description_chars": len(request.description), "options": project.options},
    )
    await session.commit()
    job_id = await queue.defer_generation(settings, project.id)
    project = await eventlog.lock_project(session, project.id)
    project.job_id = job_id
    await session.commit()
    await session.refresh(project)
    return project


async def owned_project(session: AsyncSession, user: HubUser, project_id: uuid.UUID) -> Project:
    """The project if ``user`` owns it; someone else's looks exactly like a missing one."""
    project = await session.get(Project, project_id)
    if project is None or project.owner != user.name:
        raise ProjectNotFound(f"No project {project_id} of yours.")
    return project


async def list_projects(session: AsyncSession, user: HubUser, limit: int = 50) -> list[Project]:
    rows = await session.scalars(
        select(Project)
        .where(Project.owner == user.name)
        .order_by(Project.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def cancel_project(
    session: AsyncSession, settings: Settings, user: HubUser, project_id: uuid.UUID
) -> Project:
    await owned_project(session, user, project_id)
    project = await eventlog.lock_project(session, project_id)
    if project.status not in ("queued", "running"):
        raise ProjectStateConflict(
            f"The project is {project.status}; only queued or running ones can be cancelled."
        )
    project.status = "cancelled"
    await eventlog.append(session, project_id, "project.cancelled", {"by": user.name})
    job_id = project.job_id
    await session.commit()
    if job_id is not None:
        await queue.cancel_job(settings, job_id)
    await session.refresh(project)
    return project


async def retry_project(
    session: AsyncSession, settings: Settings, user: HubUser, project_id: uuid.UUID
) -> Project:
    await owned_project(session, user, project_id)
    project = await eventlog.lock_project(session, project_id)
    if project.status not in ("failed", "cancelled"):
        raise ProjectStateConflict(
            f"The project is {project.status}; only failed or cancelled ones can be retried."
        )
    project.status = "queued"
    await eventlog.append(session, project_id, "project.retried", {"by": user.name})
    await session.commit()
    job_id = await queue.defer_generation(settings, project_id)
    project = await eventlog.lock_project(session, project_id)
    project.job_id = job_id
    await session.commit()
    await session.refresh(project)
    return project


async def state_at(
    session: AsyncSession,
    user: HubUser,
    project_id: uuid.UUID,
    *,
    seq: int | None = None,
    at: datetime | None = None,
) -> ProjectState:
    await owned_project(session, user, project_id)
    events = await eventlog.all_events(session, project_id)
    if at is not None:
        seq = seq_at_time(events, at)
    return rebuild(events, upto=seq)


async def restore(
    session: AsyncSession, user: HubUser, project_id: uuid.UUID, seq: int
) -> ProjectState:
    """Make the files what they were at ``seq`` by appending events; nothing is deleted."""
    await owned_project(session, user, project_id)
    project = await eventlog.lock_project(session, project_id)
    if project.status in ("queued", "running"):
        raise ProjectStateConflict("Wait for the job to finish (or cancel it) before restoring.")
    events = await eventlog.all_events(session, project_id)
    if seq > (events[-1].seq if events else 0):
        raise ProjectStateConflict(f"There is no point {seq} yet in this project's history.")
    target = rebuild(events, upto=seq)
    now = rebuild(events)
    await eventlog.append(session, project_id, "project.restored", {"to_seq": seq, "by": user.name})
    for path in sorted(set(now.files) - set(target.files)):
        await eventlog.append(session, project_id, "file.deleted", {"path": path}, step="restore")
    for path, content in sorted(target.files.items()):
        if now.files.get(path) != content:
            await eventlog.append(
                session,
                project_id,
                "file.written",
                {"path": path, "content": content},
                step="restore",
            )
    await session.commit()
    return rebuild(await eventlog.all_events(session, project_id))


def zip_files(files: dict[str, str], root: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in sorted(files.items()):
            archive.writestr(f"{root}/{path}", content)
    return buffer.getvalue()


__all__ = ["ProjectEvent", "zip_files"]
