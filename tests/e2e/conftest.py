"""The whole platform on free loopback ports for the session, people signed in to it, and
Debian's chromium for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.artifacts import artifact_path
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.hub import Hub, HubUser
from tests.support.platform import (
    ADMIN_NAME,
    Platform,
    leftover_processes,
    start_platform,
    stop_platform,
)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform") / "data"
    data_dir.mkdir()
    running = start_platform(data_dir, artifact_path("platform.log"))
    try:
        yield running
    finally:
        code = stop_platform(running)
        leftovers = leftover_processes(running)
        assert code == 0, f"launcher exited with {code}:\n{running.log_tail()}"
        assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture(scope="session")
def admin(platform: Platform) -> Iterator[HubUser]:
    """The admin named in DATAZENTR_ADMIN_USERS, signed up and logged in."""
    user = HubUser(platform, name=ADMIN_NAME)
    assert user.signup().status_code == 200
    assert user.login().status_code == 200
    yield user
    user.close()


@pytest.fixture
def new_user(platform: Platform) -> Iterator[HubUser]:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    assert user.login().status_code == 200
    yield user
    user.close()


@pytest.fixture
def hub(new_user: HubUser) -> Iterator[Hub]:
    """A new user's hub REST API; the servers the test started are stopped after it."""
    hub = Hub(new_user)
    yield hub
    for server in list(hub.servers()):
        hub.stop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
