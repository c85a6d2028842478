"""The embedded server's lifecycle, on its own data dir."""

import shutil
import time
from pathlib import Path

import psycopg
import pytest

from api.core.config import Settings
from api.core.postgres import EmbeddedPostgres
from tests.support.filesystem import reachable_by_other_users


def test_start_reuses_a_running_server_and_stop_stops_it(tmp_path: Path) -> None:
    reachable_by_other_users(tmp_path)
    server = EmbeddedPostgres(Settings(_env_file=None, data_dir=tmp_path))
    assert server.start() is True
    try:
        assert server.start() is False  # idempotent: the running server is reused
        with psycopg.connect(
            dbname="datazentr", user="postgres", host=str(tmp_path / "run")
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not server.is_running()


def test_a_server_whose_data_dir_vanished_is_still_stopped(tmp_path: Path) -> None:
    reachable_by_other_users(tmp_path)
    server = EmbeddedPostgres(Settings(_env_file=None, data_dir=tmp_path))
    server.start()
    pid = server.server_pid()
    assert pid is not None
    shutil.rmtree(tmp_path / "postgres")
    server.stop()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():
        status = Path(f"/proc/{pid}/status").read_text()
        if "State:\tZ" in status:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"postgres {pid} still runs after stop()")
        time.sleep(0.1)
