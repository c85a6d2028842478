"""The generation worker: ``python -m api.worker``, run by the hub as a managed service.

It takes jobs from the Postgres queue and runs the pipeline. Jobs of a worker that died
(no heartbeat for ``STALLED_SECONDS``) are put back in the queue by any live worker, and
the pipeline resumes them after their last completed step.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid

import procrastinate

from api.billing.provider import BillingProvider
from api.billing.trials import billing_round
from api.core.config import Settings, get_settings
from api.core.db import Database
from api.core.logging import configure_logging
from api.generation.llm import LLMProvider
from api.generation.pipeline import run_project
from api.generation.queue import QUEUE, TASK, queue_app
from api.patterns.embedder import get_embedder

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = float(os.environ.get("DATAZENTR_WORKER_HEARTBEAT_SECONDS", "5"))
STALLED_SECONDS = float(os.environ.get("DATAZENTR_WORKER_STALLED_SECONDS", "30"))
CONCURRENCY = int(os.environ.get("DATAZENTR_WORKER_CONCURRENCY", "1"))
# On stop, a running job gets this long; then it is aborted (its sandbox killed) and goes
# back to the queue, to resume after its last completed step.
SHUTDOWN_SECONDS = float(os.environ.get("DATAZENTR_WORKER_SHUTDOWN_SECONDS", "3"))


def build_worker_app(settings: Settings, database: Database) -> procrastinate.App:
    app = queue_app(settings)
    embedder = get_embedder(settings)
    llm = LLMProvider.from_settings(settings)

    @app.task(name=TASK, queue=QUEUE, retry=procrastinate.RetryStrategy(max_attempts=3, wait=2))
    async def generate_project(project_id: str) -> None:
        status = await run_project(
            database,
            embedder,
            uuid.UUID(project_id),
            llm=llm,
            token_budget=settings.generation_token_budget,
        )
        log.info("project %s finished: %s", project_id, status)

    return app


async def requeue_stalled(app: procrastinate.App) -> int:
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS))
    for job in stalled:
        log.warning("job %s of a dead worker goes back to the queue", job.id)
        await app.job_manager.retry_job(job)
    return len(stalled)


async def _watch_stalled(app: procrastinate.App) -> None:
    while True:
        try:
            await requeue_stalled(app)
        except Exception:
            log.exception("could not check for stalled jobs")
        await asyncio.sleep(max(1.0, STALLED_SECONDS / 3))


# Trial notices due and grace periods that ran out are looked for this often.
BILLING_ROUND_SECONDS = 60.0


async def _billing_rounds(database: Database, settings: Settings) -> None:
    provider = BillingProvider(settings)
    while True:
        try:
            await billing_round(database, settings, provider=provider)
        except Exception:
            log.exception("the billing round failed; the next one tries again")
        await asyncio.sleep(BILLING_ROUND_SECONDS)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    database = Database(settings.app_sqlalchemy_url, pool_size=2)
    app = build_worker_app(settings, database)
    async with app.open_async():
        watcher = asyncio.create_task(_watch_stalled(app))
        billing = (
            asyncio.create_task(_billing_rounds(database, settings))
            if settings.billing_enabled
            else None
        )
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=CONCURRENCY,
                update_heartbeat_interval=HEARTBEAT_SECONDS,
                stalled_worker_timeout=STALLED_SECONDS,
                shutdown_graceful_timeout=SHUTDOWN_SECONDS,
            )
        finally:
            watcher.cancel()
            if billing is not None:
                billing.cancel()
            await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
