"""The Postgres job queue (procrastinate) that carries generation jobs to workers.

The queue lives in the platform database (its schema is migration 0004), so any number of
workers on any number of machines share it. Only the project id travels in a job; the
worker reads everything else from the database.
"""

from __future__ import annotations

import logging
import uuid

import procrastinate

from api.core.config import Settings

log = logging.getLogger(__name__)

QUEUE = "generation"
TASK = "generate_project"


def conninfo(settings: Settings) -> str:
    return settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def queue_app(settings: Settings) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(settings), min_size=1, max_size=4)
    return procrastinate.App(connector=connector)


async def defer_generation(settings: Settings, project_id: uuid.UUID) -> int:
    app = queue_app(settings)
    async with app.open_async():
        job_id: int = await app.configure_task(TASK, queue=QUEUE).defer_async(
            project_id=str(project_id)
        )
    return job_id


async def cancel_job(settings: Settings, job_id: int) -> bool:
    """Cancel a job still waiting in the queue; a running job sees the project's status."""
    app = queue_app(settings)
    async with app.open_async():
        return await app.job_manager.cancel_job_by_id_async(job_id)
