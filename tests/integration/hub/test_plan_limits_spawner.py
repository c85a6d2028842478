"""The plan-aware local spawner inside a real JupyterHub (MockHub, in this process) against
the real api on real PostgreSQL: refusals a person can act on, the plan's limits on the
server, and the session in the usage ledger from start to stop."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import psutil
import pytest
import pytest_asyncio
from jupyterhub.tests.mocking import MockHub

from hub.plan_limits import session_start
from hub.spawners import LocalSessionSpawner
from tests.support.hub import TINY_PLAN
from tests.support.mock_hub import MockHubUser
from tests.support.network import free_port

# The hub's event loop is the module's own (see the mock_hub fixture).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

FREE_PLAN_MEMORY = 1024 * 1024 * 1024
FREE_PLAN_IDLE_SECONDS = 15 * 60


class Person(MockHubUser):
    """A hub user who also calls the platform api with their token."""

    def __init__(self, app: MockHub, api_url: str, *, admin: bool = False) -> None:
        name = f"{'admin' if admin else 'person'}-{uuid.uuid4().hex[:8]}"
        super().__init__(app, name, admin=admin)
        self.api = httpx.AsyncClient(
            base_url=f"{api_url}/services/api/",
            headers={"Authorization": f"token {self.token}"},
            timeout=60,
        )

    async def sessions(self) -> list[dict[str, Any]]:
        """Today's sessions of this person in the usage ledger, as the api reports them."""
        response = await self.api.get("me/usage")
        assert response.status_code == 200, response.text
        sessions: list[dict[str, Any]] = response.json()["sessions"]
        return sessions

    async def close(self) -> None:
        await super().close()
        await self.api.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def person(mock_hub: MockHub, api_url: str) -> AsyncIterator[Person]:
    someone = Person(mock_hub, api_url)
    yield someone
    await someone.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(mock_hub: MockHub, api_url: str) -> AsyncIterator[Person]:
    someone = Person(mock_hub, api_url, admin=True)
    yield someone
    await someone.close()


async def test_the_plans_limits_apply_and_the_session_is_recorded_from_start_to_stop(
    person: Person,
) -> None:
    started = await person.start()
    assert started.status_code in (201, 202), started.text
    spawner = person.spawner()
    assert isinstance(spawner, LocalSessionSpawner)
    assert (spawner.mem_limit, spawner.cpu_limit) == (FREE_PLAN_MEMORY, 1.0)
    # The running server itself was told to stop when idle for the plan's timeout.
    command = psutil.Process(spawner.pid).cmdline()
    assert f"--ServerApp.shutdown_no_activity_timeout={FREE_PLAN_IDLE_SECONDS}" in command
    assert f"--MappingKernelManager.cull_idle_timeout={FREE_PLAN_IDLE_SECONDS}" in command

    (session,) = await person.sessions()
    key = session_start(spawner.orm_spawner.started)
    assert datetime.fromisoformat(session["started_at"]) == key
    assert session["ended_at"] is None
    # A hub restart would resume this session, not open another one.
    assert spawner.get_state()["session_started_at"] == key.isoformat()

    await person.stop()
    (closed,) = await person.sessions()
    assert closed["ended_at"] is not None and closed["end_reason"] == "stopped"
    assert datetime.fromisoformat(closed["ended_at"]) > key


async def test_a_spawn_is_refused_with_the_plans_message_when_its_minutes_are_used_up(
    person: Person, admin: Person
) -> None:
    assert (await admin.api.put("admin/plans/tiny", json=TINY_PLAN)).status_code == 200
    moved = await admin.api.put(f"admin/users/{person.name}/plan", json={"plan_code": "tiny"})
    assert moved.status_code == 200, moved.text

    refused = await person.start()
    assert refused.status_code == 403, refused.text
    message = refused.json()["message"]
    assert "You have used 0 of your 0 minutes today on the Tiny plan" in message
    assert "The Free plan gives 120 minutes a day" in message
    assert not person.spawner().active
    assert await person.sessions() == []


async def test_the_named_server_limit_comes_from_the_plan(person: Person) -> None:
    assert (await person.start("first")).status_code in (201, 202)
    second = await person.start("second")
    assert second.status_code == 400
    assert "maximum of 1 named servers" in second.json()["message"]  # the Free plan's one
    assert [s["server_name"] for s in await person.sessions()] == ["first"]


async def test_without_the_api_a_spawn_is_refused_with_a_try_again_message(
    mock_hub: MockHub, api_url: str
) -> None:
    configured = mock_hub.config.PlanLimitsMixin.platform_api_url
    mock_hub.config.PlanLimitsMixin.platform_api_url = f"http://127.0.0.1:{free_port()}/"
    try:
        someone = Person(mock_hub, api_url)  # its spawner reads the config now
        refused = await someone.start()
        limit = await someone.start("lab2")
    finally:
        mock_hub.config.PlanLimitsMixin.platform_api_url = configured
    await someone.close()
    assert refused.status_code == 503, refused.text
    assert "could not check your plan. Try again in a minute" in refused.json()["message"]
    assert limit.status_code == 503, limit.text
    assert "could not check your plan's named servers" in limit.json()["message"]
    assert not someone.spawner().active
