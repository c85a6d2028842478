"""The dashboards' data endpoints and the credential their kernels use, on real Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.core.config import Settings
from api.core.db import Database
from api.core.names import DASHBOARD_CREDENTIAL_HEADER as HEADER
from api.dashboard_credentials import mint, verify
from api.generation.queue import QUEUE
from api.patterns.embedder import Embedder
from api.signing import BadSignature
from api.worker import build_worker_app
from tests.support.api import tenant_api
from tests.support.database import seeded_database
from tests.support.identity import as_user

PATTERN = {
    "kind": "snippet",
    "title": "Globex internal retry helper",
    "description": "Retries with jitter, for globex services only.",
    "language": "python",
    "files": [{"path": "retry.py", "content": "def retry():\n    return 1\n"}],
    "visibility": "tenant",
}


@pytest.fixture(scope="module")
def dash_settings(pg_settings: Settings, embedder: Embedder) -> Settings:
    url = seeded_database(pg_settings, "dashboards_api", embedder)
    return Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=url)


@pytest.fixture(scope="module")
async def dash(dash_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The api with tenants, a globex pattern, and one generated project of alice's."""
    async with tenant_api(dash_settings, http_timeout=120) as http:
        created = await http.post("/patterns", json=PATTERN, headers=as_user("carol"))
        assert created.status_code == 201, created.text
        project = await http.post(
            "/projects",
            json={"description": "A token bucket rate limiter library"},
            headers=as_user("alice"),
        )
        assert project.status_code == 202, project.text
        database = Database(dash_settings.app_sqlalchemy_url)
        try:
            worker = build_worker_app(dash_settings, database)
            async with worker.open_async():
                await worker.run_worker_async(
                    queues=[QUEUE], wait=False, install_signal_handlers=False
                )
        finally:
            await database.dispose()
        yield http


async def _project_id(dash: httpx.AsyncClient) -> str:
    projects = (await dash.get("/projects", headers=as_user("alice"))).json()
    return str(projects[0]["id"])


async def test_metrics_are_the_askers_own(dash: httpx.AsyncClient) -> None:
    alice = (await dash.get("/dashboards/metrics", headers=as_user("alice"))).json()
    assert alice["projects_total"] == 1 and alice["projects_accelerated"] == 1
    assert alice["gates_run"] >= 1 and alice["quality_score"] == 1.0
    assert alice["pattern_uses_passed"] >= 1  # the job applied a library pattern
    hours = 6.0 * 1 + 0.5 * alice["pattern_uses_passed"]
    assert alice["hours_saved"] == hours and alice["cost_saved"] == hours * 75
    assert "hours saved = 6 h * succeeded projects" in alice["formula"]
    bob = (await dash.get("/dashboards/metrics", headers=as_user("bob"))).json()
    assert bob["projects_total"] == 0 and bob["hours_saved"] == 0
    assert bob["quality_score"] is None and bob["gates_run"] == 0
    # Tenant data: carol's tenant pattern counts for her, not for acme's alice.
    carol = (await dash.get("/dashboards/metrics", headers=as_user("carol"))).json()
    assert carol["library_size"] == alice["library_size"] - alice["patterns_learned"] + 1
    assert carol["patterns_learned"] == 1


async def test_learning_curve_ends_today_with_the_library(dash: httpx.AsyncClient) -> None:
    curve = (await dash.get("/dashboards/learning-curve?days=7", headers=as_user("carol"))).json()
    points = curve["points"]
    assert len(points) == 7
    metrics = (await dash.get("/dashboards/metrics", headers=as_user("carol"))).json()
    assert points[-1]["patterns"] == metrics["library_size"]
    alice = (await dash.get("/dashboards/learning-curve?days=7", headers=as_user("alice"))).json()
    assert alice["points"][-1]["gates_run"] >= 1 and alice["points"][-1]["pass_rate"] == 1.0
    refused = await dash.get("/dashboards/learning-curve?days=1000", headers=as_user("alice"))
    assert refused.status_code == 422


async def test_orchestration_of_my_job_and_404_for_others(dash: httpx.AsyncClient) -> None:
    project_id = await _project_id(dash)
    view = await dash.get(f"/dashboards/orchestration/{project_id}", headers=as_user("alice"))
    body = view.json()
    assert body["status"] == "succeeded" and body["progress"] == 1.0
    assert body["hierarchy"]["orchestrator"] == ["plan", "build", "verify"]
    assert "quality_gates" in body["hierarchy"]["verify"]
    assert {t["status"] for t in body["tasks"]} == {"done"}
    assert body["gates"] and all(g["passed"] for g in body["gates"])
    for stranger in ("bob", "carol"):
        other = await dash.get(f"/dashboards/orchestration/{project_id}", headers=as_user(stranger))
        assert other.status_code == 404


async def test_a_dashboard_credential_acts_as_its_user_only(
    dash: httpx.AsyncClient, dash_settings: Settings
) -> None:
    key = dash_settings.dashboards_credential_key()
    credential = mint("alice", key)
    me = await dash.get("/me", headers={HEADER: credential})
    assert me.status_code == 200 and me.json()["name"] == "alice"
    assert "admin" not in me.json().get("roles", [])
    project_id = await _project_id(dash)
    mine = await dash.get(f"/dashboards/orchestration/{project_id}", headers={HEADER: credential})
    assert mine.status_code == 200
    bob = await dash.get(
        f"/dashboards/orchestration/{project_id}", headers={HEADER: mint("bob", key)}
    )
    assert bob.status_code == 404
    # Altered, signed with another key, or for the admin: refused with a way forward.
    payload, mac = credential.rsplit(".", 1)
    for forged in (
        payload + "." + mac[::-1],
        mint("root", "another-key-" + "x" * 40),
        credential.replace(payload, payload[:-2] + "AA"),
    ):
        refused = await dash.get("/me", headers={HEADER: forged})
        assert refused.status_code == 401
        assert "reload the page" in refused.json()["error"]["message"]
    with pytest.raises(BadSignature):
        verify(credential, key, max_age_seconds=-1)  # expired
