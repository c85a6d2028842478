"""Each organisation's generation jobs run in its own pool: a burst of one organisation
waits for its own slots while workers take the others' jobs (procrastinate's locks, as the
queue's own fetch function applies them). An organisation without a plan of its own has
no pool: its members keep their own plans' pools."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import procrastinate
import pytest

from api.auth import HubUser
from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM, person_scope
from api.generation import pools, service
from api.generation.queue import QUEUE, queue_app
from api.models import Tenant, UserProfile
from api.schemas.projects import ProjectCreate
from tests.support.api import in_process_api
from tests.support.database import app_url
from tests.support.identity import as_user


@dataclass
class Queue:
    settings: Settings
    database: Database
    app: procrastinate.App


@pytest.fixture
async def queue(pg_settings: Settings, scratch_database_url: str) -> AsyncIterator[Queue]:
    """A queue of its own: no other test's jobs to fetch."""
    migrate.upgrade(scratch_database_url)
    settings = Settings(
        _env_file=None, data_dir=pg_settings.data_dir, database_url=scratch_database_url
    )
    database = Database(app_url(scratch_database_url))
    app = queue_app(settings)
    async with app.open_async():
        yield Queue(settings, database, app)
    await database.dispose()


async def _organisation(
    database: Database, plan: str | None, members: list[str], admin: str | None = None
) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with database.scoped(PLATFORM) as session:
        slug = f"o-{tenant_id.hex[:10]}"
        session.add(Tenant(id=tenant_id, slug=slug, name="Org", plan_code=plan))
        await session.flush()
        for name in members:
            role = "admin" if name == admin else "member"
            session.add(
                UserProfile(hub_name=name, tenant_id=tenant_id, plan_code="pro", tenant_role=role)
            )
        await session.commit()
    return tenant_id


async def _generate(queue: Queue, name: str) -> int:
    async with queue.database.sessionmaker() as session:
        await person_scope(session, name)
        project = await service.create_project(
            session,
            queue.settings,
            HubUser(name=name, admin=False),
            ProjectCreate(description=f"A small tool for {name}"),
        )
        assert project.job_id is not None
        return project.job_id


async def _fetch(queue: Queue, worker_id: int) -> int | None:
    job = await queue.app.job_manager.fetch_job(queues=[QUEUE], worker_id=worker_id)
    return None if job is None else job.id


async def test_a_burst_of_one_organisation_waits_for_its_own_slots(queue: Queue) -> None:
    suffix = uuid.uuid4().hex[:6]
    busy, other = f"busy-{suffix}", f"other-{suffix}"
    await _organisation(queue.database, "free", [busy])  # one job at a time
    await _organisation(queue.database, "team", [other])
    burst = [await _generate(queue, busy) for _ in range(3)]
    others = [await _generate(queue, other) for _ in range(2)]

    worker = await queue.app.job_manager.register_worker()
    first = await _fetch(queue, worker)
    assert first == burst[0]
    # The busy organisation's next jobs wait for its one slot; the other's run meanwhile.
    assert await _fetch(queue, worker) == others[0]
    assert await _fetch(queue, worker) == others[1]
    assert await _fetch(queue, worker) is None
    await queue.app.job_manager.finish_job_by_id_async(
        first, procrastinate.jobs.Status.SUCCEEDED, delete_job=False
    )
    assert await _fetch(queue, worker) == burst[1]


async def test_a_larger_plan_spreads_its_jobs_over_more_slots(queue: Queue) -> None:
    name = f"team-{uuid.uuid4().hex[:6]}"
    tenant_id = await _organisation(queue.database, "team", [name])
    async with queue.database.scoped(PLATFORM) as session:
        size = (await pools.pool_of(session, name, tenant_id)).size
    assert size == 4
    for _ in range(6):
        await _generate(queue, name)
    async with queue.database.scoped(PLATFORM) as session:
        jobs = await pools.queue_of(session, pools.Pool(f"org:{tenant_id}", size))
    per_slot: dict[str, int] = {}
    for _status, lock, _job in jobs:
        per_slot[lock] = per_slot.get(lock, 0) + 1
    assert len(jobs) == 6
    assert sorted(per_slot.values()) == [1, 1, 2, 2]


async def test_a_person_outside_organisations_has_a_pool_of_their_own(queue: Queue) -> None:
    name = f"solo-{uuid.uuid4().hex[:6]}"
    async with queue.database.scoped(PLATFORM) as session:
        session.add(UserProfile(hub_name=name, plan_code="pro"))
        await session.commit()
        pool = await pools.pool_of(session, name, None)
    assert pool == pools.Pool(f"user:{name}", 2)
    job = await _generate(queue, name)
    async with queue.database.scoped(PLATFORM) as session:
        assert [(lock, job_id) for _s, lock, job_id in await pools.queue_of(session, pool)] == [
            (pool.lock(0), job)
        ]


async def test_members_of_an_organisation_without_a_plan_keep_their_own_pools(
    queue: Queue,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    ada, bob = f"ada-{suffix}", f"bob-{suffix}"
    tenant_id = await _organisation(queue.database, None, [ada, bob])  # both on pro
    async with queue.database.scoped(PLATFORM) as session:
        assert await pools.pool_of(session, ada, tenant_id) == pools.Pool(f"user:{ada}", 2)
        assert await pools.pool_of(session, bob, tenant_id) == pools.Pool(f"user:{bob}", 2)
    burst = [await _generate(queue, ada) for _ in range(3)]
    bobs = await _generate(queue, bob)

    worker = await queue.app.job_manager.register_worker()
    # Ada's two slots run two of her jobs; her third waits, and Bob's runs in his own pool.
    assert await _fetch(queue, worker) == burst[0]
    assert await _fetch(queue, worker) == burst[1]
    assert await _fetch(queue, worker) == bobs
    assert await _fetch(queue, worker) is None


async def test_the_queue_dashboard_shows_an_organisations_pool_to_its_admins(
    queue: Queue,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    boss, worker_bee, outsider = f"boss-{suffix}", f"bee-{suffix}", f"out-{suffix}"
    await _organisation(queue.database, "free", [boss, worker_bee], admin=boss)
    await _organisation(queue.database, "free", [outsider])
    mine = await _generate(queue, worker_bee)
    theirs = await _generate(queue, boss)
    await _generate(queue, outsider)
    worker = await queue.app.job_manager.register_worker()
    assert await _fetch(queue, worker) == mine
    async with in_process_api(queue.settings) as api:
        admin_view = (await api.get("/dashboards/queue", headers=as_user(boss))).json()
        member_view = (await api.get("/dashboards/queue", headers=as_user(worker_bee))).json()
        other_view = (await api.get("/dashboards/queue", headers=as_user(outsider))).json()
    assert admin_view["pool"] == "organisation" and admin_view["size"] == 1
    assert (admin_view["running"], admin_view["waiting"]) == (1, 1)
    assert [(j["owner"], j["state"]) for j in admin_view["jobs"]] == [
        (worker_bee, "running"),
        (boss, "waiting"),
    ]
    # A member sees the counts and their own job only.
    assert (member_view["running"], member_view["waiting"]) == (1, 1)
    assert [j["owner"] for j in member_view["jobs"]] == [worker_bee]
    # Another organisation's pool is its own: one job waiting, none of theirs shown.
    assert (other_view["running"], other_view["waiting"]) == (0, 1)
    assert [j["owner"] for j in other_view["jobs"]] == [outsider]
    assert theirs not in {j["project_id"] for j in other_view["jobs"]}
