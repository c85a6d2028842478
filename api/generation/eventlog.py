"""Appending to a project's numbered event log.

Every writer first locks the project's row (``SELECT ... FOR UPDATE``), then numbers its
events ``max(seq) + 1, + 2, ...`` in the same transaction: sequence numbers have no gaps,
and the unique ``(project_id, seq)`` constraint makes a duplicate impossible even if a
writer forgot the lock. A step's events are written in one transaction with its
``step.completed`` event, so a crash leaves either all of them or none. Each append also
queues a NOTIFY in the same transaction (:mod:`api.generation.notify`): live streams wake
when the event commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.generation import notify
from api.generation.errors import ProjectNotFound
from api.models import Project, ProjectEvent


async def lock_project(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.scalar(
        select(Project).where(Project.id == project_id).with_for_update()
    )
    if project is None:
        raise ProjectNotFound(f"No project {project_id}.")
    return project


async def append(
    session: AsyncSession,
    project_id: uuid.UUID,
    type: str,
    payload: dict[str, Any] | None = None,
    *,
    step: str | None = None,
) -> ProjectEvent:
    """Add the next event; the caller holds the project's row lock (see :func:`lock_project`)."""
    last = await session.scalar(
        select(func.coalesce(func.max(ProjectEvent.seq), 0)).where(
            ProjectEvent.project_id == project_id
        )
    )
    event = ProjectEvent(
        project_id=project_id, seq=int(last or 0) + 1, type=type, step=step, payload=payload or {}
    )
    session.add(event)
    await session.flush()
    await notify.notify(session, project_id, event.seq)
    return event


async def events_after(
    session: AsyncSession, project_id: uuid.UUID, after: int = 0, *, limit: int = 1000
) -> list[ProjectEvent]:
    rows = await session.scalars(
        select(ProjectEvent)
        .where(ProjectEvent.project_id == project_id, ProjectEvent.seq > after)
        .order_by(ProjectEvent.seq)
        .limit(limit)
    )
    return list(rows)


async def all_events(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectEvent]:
    rows = await session.scalars(
        select(ProjectEvent).where(ProjectEvent.project_id == project_id).order_by(ProjectEvent.seq)
    )
    return list(rows)
