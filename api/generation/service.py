"""What the routes do with projects: create, read (owner only), cancel, retry, restore."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.core.config import Settings
from api.events import append_event
from api.generation import eventlog, queue
from api.generation.errors import (
    GenerationLimitReached,
    ProjectNotFound,
    ProjectStateConflict,
)
from api.generation.state import ProjectState, rebuild, seq_at_time
from api.models import Project, UserProfile
from api.patterns.library import viewer_for
from api.profiles import get_or_create_profile
from api.schemas.projects import ProjectCreate


async def check_daily_limit(session: AsyncSession, user: HubUser) -> None:
    """Refuse a generation beyond the plan's ``generations_per_day`` (days are UTC days)."""
    profile = await get_or_create_profile(session, user)
    # Lock the profile: two requests at once must not both take the last generation.
    await session.execute(
        select(UserProfile.id).where(UserProfile.id == profile.id).with_for_update()
    )
    limit = profile.plan.generations_per_day
    if limit is None:
        return
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    used = await session.scalar(
        select(func.count())
        .select_from(Project)
        .where(Project.owner == user.name, Project.created_at >= midnight)
    )
    if (used or 0) >= limit:
        raise GenerationLimitReached(
            f"Your plan ({profile.plan.name}) allows {limit} project generations a day and "
            f"you have used them; more at 00:00 UTC, or move to a larger plan."
        )


async def create_project(
    session: AsyncSession, settings: Settings, user: HubUser, request: ProjectCreate
) -> Project:
    viewer = await viewer_for(session, user)
    await check_daily_limit(session, user)
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
    # The platform's audit log says who asked; the project's own log says everything else.
    append_event(
        session,
        stream=f"project:{project.id}",
        type="project.created",
        actor=user.name,
        tenant_id=viewer.tenant_id,
    )
    # The job is created in the same transaction: no project without a job, nor the reverse.
    project.job_id = await queue.defer_in_session(
        session, project.id, project.owner, project.tenant_id
    )
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
    project.job_id = await queue.defer_in_session(
        session, project_id, project.owner, project.tenant_id
    )
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
