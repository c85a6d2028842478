"""kill -9 the worker service mid-job: after a restart the job completes, with no gap
and no duplicate in the project's event log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.core.config import Settings
from tests.support.identity import as_user

ROOT = Path(__file__).resolve().parents[3]


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATAZENTR_DATABASE_URL": str(settings.database_url),
        "DATAZENTR_DATA_DIR": str(settings.data_dir),
        "DATAZENTR_WORKER_HEARTBEAT_SECONDS": "0.5",
        "DATAZENTR_WORKER_STALLED_SECONDS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api.worker"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def events(client: httpx.AsyncClient, project_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/projects/{project_id}/events", headers=as_user("dave"))
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()
    return result


@pytest.mark.slow
async def test_job_survives_kill_9_without_duplicate_or_missing_events(
    client: httpx.AsyncClient, gen_settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    response = await client.post(
        "/projects",
        json={"description": "A data pipeline that aggregates CSV rows per category"},
        headers=as_user("dave"),
    )
    project_id = response.json()["id"]
    worker = start_worker(gen_settings, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = await events(client, project_id)
            steps = [e["payload"].get("step") for e in seen if e["type"] == "step.completed"]
            if "code_generator" in steps:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the worker never got to the code generator:\n" + log.read_text())
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_at = await events(client, project_id)
        assert not any(e["type"] == "project.finished" for e in killed_at), "finished too soon"
        assert (await client.get(f"/projects/{project_id}", headers=as_user("dave"))).json()[
            "status"
        ] == "running"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    worker = start_worker(gen_settings, log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            body = (await client.get(f"/projects/{project_id}", headers=as_user("dave"))).json()
            if body["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the job did not complete after the restart:\n" + log.read_text())
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    assert body["status"] == "succeeded", body
    assert body["attempts"] == 2
    final = await events(client, project_id)
    assert [e["seq"] for e in final] == list(range(1, len(final) + 1))  # no gap, no duplicate
    assert final[: len(killed_at)] == killed_at  # history before the crash is unchanged
    completed = Counter(e["payload"]["step"] for e in final if e["type"] == "step.completed")
    assert set(completed.values()) == {1}, completed  # every step exactly once
    assert len(completed) == 9  # intent ... quality_gates, repair, remember
    written = Counter(e["payload"]["path"] for e in final if e["type"] == "file.written")
    assert set(written.values()) == {1}, written
    assert [e["payload"]["attempt"] for e in final if e["type"] == "job.attempt"] == [1, 2]
