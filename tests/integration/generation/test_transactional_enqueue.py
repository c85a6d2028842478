"""A project and its queue job are created in one transaction: a crash before the commit
leaves neither, a commit leaves both (and a worker then runs the job)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.core.config import Settings
from api.core.db import Database
from api.generation import service
from api.generation.queue import QUEUE, TASK
from api.models import Project
from api.schemas.projects import ProjectCreate
from tests.support.generation import Drain

USER = HubUser(name="tx-carol", admin=False)


class Crash(Exception):
    pass


async def jobs_for(database: Database, description: str) -> list[dict[str, object]]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT j.id, j.status, j.task_name, j.queue_name, p.id AS project_id, p.job_id"
                " FROM projects p JOIN procrastinate_jobs j"
                " ON j.args->>'project_id' = p.id::text WHERE p.description = :d"
            ),
            {"d": description},
        )
        return [dict(row._mapping) for row in rows]


async def test_a_crash_before_commit_leaves_neither_project_nor_job(
    gen_db: Database, gen_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    description = f"A slug library {uuid.uuid4()}"

    async def crash(self: AsyncSession) -> None:
        raise Crash("the api process died here")

    async with gen_db.sessionmaker() as session:
        monkeypatch.setattr(AsyncSession, "commit", crash)
        with pytest.raises(Crash):
            await service.create_project(
                session, gen_settings, USER, ProjectCreate(description=description)
            )
        monkeypatch.undo()
    async with gen_db.sessionmaker() as session:
        found = await session.scalar(select(Project).where(Project.description == description))
        orphans = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs j WHERE NOT EXISTS"
                " (SELECT 1 FROM projects p WHERE p.id::text = j.args->>'project_id')"
            )
        )
    assert found is None
    assert orphans == 0
    assert await jobs_for(gen_db, description) == []


async def test_a_committed_project_has_exactly_its_job_and_a_worker_runs_it(
    gen_db: Database, gen_settings: Settings, drain: Drain, monkeypatch: pytest.MonkeyPatch
) -> None:
    description = f"A rate limiter utility using a token bucket {uuid.uuid4().hex[:6]}"
    commit = AsyncSession.commit
    seen_after_commits: list[tuple[bool, int]] = []

    async def watched_commit(self: AsyncSession) -> None:
        """After every commit, what another connection sees: a crash could come next."""
        await commit(self)
        async with gen_db.sessionmaker() as other:
            exists = await other.scalar(
                select(Project.id).where(Project.description == description)
            )
        seen_after_commits.append((exists is not None, len(await jobs_for(gen_db, description))))

    monkeypatch.setattr(AsyncSession, "commit", watched_commit)
    async with gen_db.sessionmaker() as session:
        project = await service.create_project(
            session, gen_settings, USER, ProjectCreate(description=description)
        )
    monkeypatch.undo()
    # Never a project without its job (nor a job without its project) between commits.
    assert set(seen_after_commits) <= {(False, 0), (True, 1)}, seen_after_commits
    assert seen_after_commits[-1] == (True, 1)
    [job] = await jobs_for(gen_db, description)
    assert job["project_id"] == project.id and job["job_id"] == job["id"]
    assert (job["status"], job["task_name"], job["queue_name"]) == ("todo", TASK, QUEUE)
    await drain()
    [job] = await jobs_for(gen_db, description)
    assert job["status"] == "succeeded"
    async with gen_db.sessionmaker() as session:
        done = await session.get(Project, project.id)
    assert done is not None and done.status == "succeeded"
