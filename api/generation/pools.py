"""Generation pools: how many of one organisation's (or one person's) jobs run at once.

Each pool is a set of procrastinate locks, ``generation-pool:<owner>:<slot>``, one per job
that may run at a time (the plan's ``generation_concurrency``). procrastinate runs jobs
that share a lock one after another, in order; so an organisation's burst fills its own
slots while workers take everyone else's jobs. A job goes to the slot with the fewest
jobs waiting or running; deciding that is serialised per pool for the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Plan, Tenant, UserProfile

LOCK_PREFIX = "generation-pool"
# An organisation or person whose plan sets no size runs one job at a time.
DEFAULT_POOL_SIZE = 1

_SLOTS_IN_USE = text(
    "SELECT lock, count(*) FROM procrastinate_jobs "
    "WHERE lock LIKE :pattern AND status IN ('todo', 'doing') GROUP BY lock"
)


@dataclass(frozen=True)
class Pool:
    """Whose jobs share the slots (``org:<id>`` or ``user:<name>``), and how many."""

    owner: str
    size: int

    def lock(self, slot: int) -> str:
        return f"{LOCK_PREFIX}:{self.owner}:{slot}"

    @property
    def pattern(self) -> str:
        escaped = self.owner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{LOCK_PREFIX}:{escaped}:%"


async def pool_of(session: AsyncSession, owner: str, tenant_id: uuid.UUID | None) -> Pool:
    """An organisation with a plan of its own has that plan's pool, shared by its members;
    a person outside one, or in one without a plan, has their own plan's."""
    if tenant_id is not None:
        found = await session.execute(
            select(Plan.generation_concurrency)
            .join(Tenant, Tenant.plan_code == Plan.code)
            .where(Tenant.id == tenant_id)
        )
        row = found.first()
        if row is not None:
            return Pool(f"org:{tenant_id}", row[0] or DEFAULT_POOL_SIZE)
    size = await session.scalar(
        select(Plan.generation_concurrency)
        .join(UserProfile, UserProfile.plan_code == Plan.code)
        .where(UserProfile.hub_name == owner)
    )
    return Pool(f"user:{owner}", size or DEFAULT_POOL_SIZE)


async def next_lock(session: AsyncSession, pool: Pool) -> str:
    """The lock of the pool's least busy slot, for a job enqueued in this transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(pool.owner, 0))))
    busy = {
        str(lock): int(count)
        for lock, count in await session.execute(_SLOTS_IN_USE, {"pattern": pool.pattern})
    }
    slot = min(range(pool.size), key=lambda s: (busy.get(pool.lock(s), 0), s))
    return pool.lock(slot)


async def queue_of(session: AsyncSession, pool: Pool) -> list[tuple[str, str, int]]:
    """The pool's jobs waiting or running: (status, lock, job id), oldest first."""
    rows = await session.execute(
        text(
            "SELECT status, lock, id FROM procrastinate_jobs "
            "WHERE lock LIKE :pattern AND status IN ('todo', 'doing') ORDER BY id"
        ),
        {"pattern": pool.pattern},
    )
    return [(str(status), str(lock), int(job_id)) for status, lock, job_id in rows]
