"""The pausing Docker spawner inside a real JupyterHub (MockHub, in this process) on the
tests' private Docker engine: a stopped server pauses, a quick return unpauses the same
server process, and a plan change or a long pause gives a fresh container on the same home.

The plan check is left out (``PausingDockerSpawner``, not ``PlatformDockerSpawner``): the
limits are set on the spawner as that check sets them before each start.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import docker.errors
import httpx
import pytest
import pytest_asyncio
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from api.core.config import Settings
from hub import spawners
from hub.config import proxy_command
from hub.spawners import PLATFORM_LABEL, PausingDockerSpawner, apply_spawner
from tests.support.docker_engine import DockerEngine
from tests.support.mock_hub import MockHubUser, running_mock_hub
from tests.support.network import free_port

# The hub cancels every task of its event loop when it stops: it gets the module's own.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

GIB = 1024 * 1024 * 1024
PAUSE_MINUTES = 10
USER_PREFIX = "pausing"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("pausing-data"),
        spawner="docker",
        docker_network="host",
        docker_pause_minutes=PAUSE_MINUTES,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mock_hub(
    settings: Settings,
    docker_engine: DockerEngine,
    singleuser_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[MockHub]:
    """MockHub with the platform's Docker configuration, on the private engine."""
    c = Config()
    apply_spawner(settings, c, image=singleuser_image)
    c.JupyterHub.spawner_class = PausingDockerSpawner
    c.DockerSpawner.client_kwargs = {"base_url": docker_engine.docker_host}
    c.Spawner.mem_limit = GIB
    c.Spawner.cpu_limit = 1.0
    c.JupyterHub.bind_url = f"http://127.0.0.1:{free_port()}/"
    c.ConfigurableHTTPProxy.command = [proxy_command(settings)]
    PausingDockerSpawner._client = None  # a client of this engine, not of an earlier one
    try:
        async with running_mock_hub(c, tmp_path_factory.mktemp("pausing-hub")) as app:
            yield app
    finally:
        # The hub's own shutdown pauses the servers too; the launcher removes them by label.
        mine: dict[str, str | list[str] | bool] = {
            "label": f"{PLATFORM_LABEL}={settings.instance_id}"
        }
        for container in docker_engine.client.containers.list(all=True, filters=mine):
            container.remove(force=True)
        for volume in docker_engine.client.volumes.list():
            if volume.name.startswith(f"datazentr-home-{USER_PREFIX}-"):
                volume.remove(force=True)


@pytest_asyncio.fixture(loop_scope="module")
async def person(mock_hub: MockHub, docker_engine: DockerEngine) -> AsyncIterator[MockHubUser]:
    someone = MockHubUser(mock_hub, f"{USER_PREFIX}-{uuid.uuid4().hex[:8]}")
    yield someone
    await someone.close()
    name = someone.spawner().object_name
    spawners._PAUSED.pop(name, None)
    with contextlib.suppress(docker.errors.NotFound):
        docker_engine.client.containers.get(name).remove(force=True)


async def server_started_at(person: MockHubUser) -> str:
    """When the user's Jupyter server process started, as the server itself says."""
    url = person.spawner().server.url.rstrip("/") + "/api/status"
    headers = {"Authorization": f"token {person.token}"}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    started: str = response.json()["started"]
    return started


def container(docker_engine: DockerEngine, container_id: str) -> Any:
    return docker_engine.client.containers.get(container_id)


def home_volume(container: Any) -> str:
    (home,) = [m for m in container.attrs["Mounts"] if m["Destination"] == "/home/jovyan"]
    name: str = home["Name"]
    return name


# The hub makes a new spawner object for every start: each test asks for the current one.


async def test_a_stopped_server_pauses_and_a_quick_return_unpauses_it(
    person: MockHubUser, docker_engine: DockerEngine
) -> None:
    assert (await person.start()).status_code in (201, 202)
    first = person.spawner().object_id
    process_started = await server_started_at(person)

    await person.stop()
    assert container(docker_engine, first).status == "paused"  # frozen, not removed

    assert (await person.start()).status_code in (200, 201, 202)
    assert person.spawner().object_id == first
    assert container(docker_engine, first).status == "running"
    assert await server_started_at(person) == process_started  # the same process, resumed


async def test_a_plan_change_while_paused_starts_a_fresh_container(
    person: MockHubUser, docker_engine: DockerEngine, mock_hub: MockHub
) -> None:
    assert (await person.start()).status_code in (201, 202)
    first = person.spawner().object_id
    home = home_volume(container(docker_engine, first))
    # An upgrade: the next start's limits are bigger (the plan check sets them at start;
    # the hub makes the spawner of the next start when this one stops).
    mock_hub.config.Spawner.mem_limit = 2 * GIB
    try:
        await person.stop()
        assert container(docker_engine, first).status == "paused"
        assert (await person.start()).status_code in (201, 202)
    finally:
        mock_hub.config.Spawner.mem_limit = GIB
    fresh_id = person.spawner().object_id
    assert fresh_id != first
    with pytest.raises(docker.errors.NotFound):
        container(docker_engine, first)
    fresh = container(docker_engine, fresh_id)
    assert fresh.attrs["HostConfig"]["Memory"] == 2 * GIB
    assert home_volume(fresh) == home  # the same home as before


async def test_a_server_paused_longer_than_the_window_is_replaced(
    person: MockHubUser, docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await person.start()).status_code in (201, 202)
    spawner = person.spawner()
    first = spawner.object_id
    await person.stop()
    assert container(docker_engine, first).status == "paused"
    # As if it had been paused for longer than the pause window.
    long_ago = time.monotonic() - PAUSE_MINUTES * 60 - 1
    monkeypatch.setitem(spawners._PAUSED, spawner.object_name, long_ago)

    assert (await person.start()).status_code in (201, 202)
    fresh_id = person.spawner().object_id
    assert fresh_id != first
    with pytest.raises(docker.errors.NotFound):
        container(docker_engine, first)
    assert container(docker_engine, fresh_id).status == "running"
