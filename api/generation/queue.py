"""The Postgres job queue (procrastinate) that carries generation jobs to workers.

The queue lives in the platform database (its schema is migration 0004), so any number of
workers on any number of machines share it. Only the project id travels in a job; the
worker reads everything else from the database.

A job is enqueued in the same transaction that creates (or retries) its project, through
procrastinate's own SQL function (:func:`defer_in_session`): a crash at any moment leaves
either both the project and its job, or neither.
"""

from __future__ import annotations

import json
import logging
import uuid

import procrastinate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.generation import pools

log = logging.getLogger(__name__)

QUEUE = "generation"
TASK = "generate_project"


def conninfo(settings: Settings) -> str:
    return settings.app_sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def queue_app(settings: Settings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(settings), min_size=1, max_size=4)
    return procrastinate.App(connector=connector)


# procrastinate's ``defer_jobs`` query (procrastinate/sql/queries.sql), with the default
# priority (0) and no lock, queueing lock or schedule: what ``defer_async`` would send.
DEFER_SQL = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, "
    "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))"
)


async def defer_in_session(
    session: AsyncSession, project_id: uuid.UUID, owner: str, tenant_id: uuid.UUID | None
) -> int:
    """Enqueue the project's generation job in the session's transaction, in a slot of its
    organisation's (or owner's) pool; the job exists (and workers are woken) only when that
    transaction commits."""
    lock = await pools.next_lock(session, await pools.pool_of(session, owner, tenant_id))
    args = json.dumps({"project_id": str(project_id)})
    job_id = await session.scalar(
        DEFER_SQL, {"queue": QUEUE, "task": TASK, "args": args, "lock": lock}
    )
    if job_id is None:
        raise RuntimeError("procrastinate_defer_jobs_v1 returned no job id")
    return int(job_id)


async def cancel_job(settings: Settings, job_id: int) -> bool:
    """Cancel a job still waiting in the queue; a running job sees the project's status."""
    app = queue_app(settings)
    async with app.open_async():
        return await app.job_manager.cancel_job_by_id_async(job_id)
