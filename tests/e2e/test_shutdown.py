"""Ctrl-C of ``make up`` with servers running: every server's stop lands in the usage
ledger at the time it stopped, before the api goes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.postgres import EmbeddedPostgres
from api.models import ServerSession
from tests.support.artifacts import artifact_path
from tests.support.hub import Hub, HubUser
from tests.support.platform import leftover_processes, start_platform, stop_platform

pytestmark = pytest.mark.slow


def ledger(data_dir: Path, user: str) -> list[ServerSession]:
    """The user's sessions, read from the stopped platform's own database."""
    settings = Settings(_env_file=None, data_dir=data_dir)
    postgres = EmbeddedPostgres(settings)
    postgres.start()
    engine = create_engine(settings.sqlalchemy_url)
    try:
        with Session(engine) as session:
            query = select(ServerSession).where(ServerSession.hub_name == user)
            return list(session.scalars(query.order_by(ServerSession.server_name)))
    finally:
        engine.dispose()
        postgres.stop()


def test_ctrl_c_records_the_stop_of_every_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    platform = start_platform(data_dir, artifact_path("shutdown-platform.log"))
    try:
        person = HubUser(platform)
        assert person.signup().status_code == 200
        assert person.login().status_code == 200
        hub = Hub(person)
        for server in ("", "lab2"):  # the default server and a named one
            assert hub.start(server).status_code in (201, 202)
        for server in ("", "lab2"):
            hub.wait_ready(server)
        open_sessions = hub.usage()["sessions"]
        assert [s["ended_at"] for s in open_sessions] == [None, None]
        hub.client.close()
        hub.api.close()
        person.close()
        signalled_at = datetime.now(UTC)
    finally:
        code = stop_platform(platform)
    log = platform.log_path.read_text(errors="replace")
    assert code == 0, platform.log_tail()
    assert not leftover_processes(platform)
    assert "could not record session stop" not in log, platform.log_tail()

    sessions = ledger(data_dir, person.name)
    assert [s.server_name for s in sessions] == ["", "lab2"]
    for session in sessions:
        # Closed by the stop itself ("stopped", at the stop), not later where last seen.
        assert session.end_reason == "stopped", session.end_reason
        assert session.ended_at is not None and session.ended_at >= signalled_at
