"""Plans and daily time budgets, through the hub and the api of the running platform."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.hub import TINY_PLAN, Hub, HubUser

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def admin_api(admin: HubUser) -> Iterator[httpx.Client]:
    client = httpx.Client(
        base_url=f"{admin.platform.url}/services/api",
        timeout=30,
        headers={"Authorization": f"token {admin.new_token()}"},
    )
    assert client.put("/admin/plans/tiny", json=TINY_PLAN).status_code == 200
    yield client
    client.close()


def test_a_session_is_recorded_from_start_to_stop(hub: Hub) -> None:
    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    open_usage = hub.usage()
    (session,) = open_usage["sessions"]
    assert session["server_name"] == "" and session["ended_at"] is None
    assert open_usage["plan"]["code"] == "free"
    hub.stop()
    (closed,) = hub.usage()["sessions"]
    assert closed["ended_at"] is not None
    assert closed["end_reason"] == "stopped"
    assert 0 < hub.usage()["minutes_used"] < 5


def test_a_spawn_beyond_the_budget_is_refused_with_an_actionable_message(
    hub: Hub, admin_api: httpx.Client
) -> None:
    moved = admin_api.put(f"/admin/users/{hub.user.name}/plan", json={"plan_code": "tiny"})
    assert moved.status_code == 200
    refused = hub.start()
    assert refused.status_code == 403, refused.text
    message = refused.json()["message"]
    assert "of your 0 minutes today on the Tiny plan" in message
    assert "resets at 00:00 UTC" in message
    assert "The Free plan gives 120 minutes a day" in message
    assert hub.servers() == {}


def test_a_running_server_is_stopped_when_the_budget_is_spent(
    hub: Hub, admin_api: httpx.Client
) -> None:
    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    admin_api.put(f"/admin/users/{hub.user.name}/plan", json={"plan_code": "tiny"})
    deadline = time.monotonic() + 30
    while hub.servers():
        assert time.monotonic() < deadline, "the enforcer did not stop the server"
        time.sleep(0.5)
    (session,) = hub.usage()["sessions"]
    assert session["end_reason"] == "quota"
    assert hub.usage()["minutes_left"] == 0


def test_named_servers_are_limited_by_the_plan(hub: Hub) -> None:
    assert hub.start("first").status_code in (201, 202)
    refused = hub.start("second")
    assert refused.status_code == 400, refused.text
    assert "maximum of 1 named servers" in refused.json()["message"]


def test_only_admins_change_plans(new_user: HubUser) -> None:
    with httpx.Client(
        base_url=f"{new_user.platform.url}/services/api",
        headers={"Authorization": f"token {new_user.new_token()}"},
    ) as client:
        upgrade = client.put(f"/admin/users/{new_user.name}/plan", json={"plan_code": "pro"})
        internal = client.post("/internal/spawn-policy", json={"user": new_user.name})
    assert upgrade.status_code == 403
    assert "admins" in upgrade.json()["error"]["message"]
    assert internal.status_code == 403
