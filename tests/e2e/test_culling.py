"""jupyterhub-idle-culler, run by the hub as a service, stops an idle server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.artifacts import artifact_path
from tests.support.hub import Hub, HubUser
from tests.support.platform import Platform, start_platform, stop_platform

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def impatient_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("culling") / "data"
    data_dir.mkdir()
    running = start_platform(
        data_dir,
        artifact_path("culling-platform.log"),
        DATAZENTR_CULL_IDLE_SECONDS="10",
        DATAZENTR_CULL_EVERY_SECONDS="3",
    )
    yield running
    assert stop_platform(running) == 0, running.log_tail()


def test_an_idle_server_is_culled(impatient_platform: Platform) -> None:
    user = HubUser(impatient_platform)
    assert user.signup().status_code == 200
    assert user.login().status_code == 200
    hub = Hub(user)
    assert hub.start().status_code in (201, 202)
    hub.wait_ready()
    started = time.monotonic()
    while hub.servers():
        assert time.monotonic() - started < 60, "the idle server was not culled"
        time.sleep(1)
    culled_after = time.monotonic() - started
    assert culled_after >= 3  # not stopped at once: it had to be idle first
    (session,) = hub.usage()["sessions"]
    assert session["ended_at"] is not None
    user.close()
