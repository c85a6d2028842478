"""Deleting a hub user deletes their Docker server and home volume, inside a real JupyterHub
(MockHub, in this process) on the tests' private Docker engine: the hub calls the pausing
spawner's ``delete_forever``, which removes the paused container and the user's own home
volume, and leaves another user's home and a volume every server shares.

The plan check is left out (``PausingDockerSpawner``, not ``PlatformDockerSpawner``), as in
test_pausing_spawner.py."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import docker.errors
import pytest
import pytest_asyncio
from jupyterhub import orm
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from api.core.config import Settings
from hub import spawners
from hub.config import proxy_command
from hub.spawners import HOME_IN_CONTAINER, PLATFORM_LABEL, PausingDockerSpawner, apply_spawner
from tests.support.docker_engine import DockerEngine
from tests.support.mock_hub import MockHubUser, running_mock_hub
from tests.support.network import free_port

# The hub cancels every task of its event loop when it stops: it gets the module's own.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

USER_PREFIX = "deleting"
SHARED_VOLUME = f"datazentr-test-shared-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("deletion-data"),
        spawner="docker",
        docker_network="host",
        docker_pause_minutes=10,  # a stopped server stays, paused, until the user is deleted
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mock_hub(
    settings: Settings,
    docker_engine: DockerEngine,
    singleuser_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[MockHub]:
    """MockHub with the platform's Docker configuration on the private engine, plus a
    volume every server mounts (no user name in it: nobody's to delete)."""
    c = Config()
    apply_spawner(settings, c, image=singleuser_image)
    c.JupyterHub.spawner_class = PausingDockerSpawner
    c.DockerSpawner.client_kwargs = {"base_url": docker_engine.docker_host}
    c.DockerSpawner.volumes = {**c.DockerSpawner.volumes, SHARED_VOLUME: "/srv/shared"}
    c.JupyterHub.bind_url = f"http://127.0.0.1:{free_port()}/"
    c.ConfigurableHTTPProxy.command = [proxy_command(settings)]
    PausingDockerSpawner._client = None  # a client of this engine, not of an earlier one
    try:
        async with running_mock_hub(c, tmp_path_factory.mktemp("deletion-hub")) as app:
            yield app
    finally:
        mine: dict[str, str | list[str] | bool] = {
            "label": f"{PLATFORM_LABEL}={settings.instance_id}"
        }
        for container in docker_engine.client.containers.list(all=True, filters=mine):
            container.remove(force=True)
        for volume in docker_engine.client.volumes.list():
            if volume.name.startswith(f"datazentr-home-{USER_PREFIX}-") or (
                volume.name == SHARED_VOLUME
            ):
                volume.remove(force=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(mock_hub: MockHub) -> AsyncIterator[MockHubUser]:
    someone = MockHubUser(mock_hub, f"admin-{uuid.uuid4().hex[:8]}", admin=True)
    yield someone
    await someone.close()


def volume_names(docker_engine: DockerEngine) -> set[str]:
    return {volume.name for volume in docker_engine.client.volumes.list()}


async def test_deleting_a_user_removes_their_paused_server_and_home_volume(
    mock_hub: MockHub, admin: MockHubUser, docker_engine: DockerEngine
) -> None:
    person = MockHubUser(mock_hub, f"{USER_PREFIX}-{uuid.uuid4().hex[:8]}")
    neighbour_home = f"datazentr-home-{USER_PREFIX}-{uuid.uuid4().hex[:8]}"
    docker_engine.client.volumes.create(neighbour_home)
    try:
        started = await person.start()
        assert started.status_code in (201, 202), started.text
        spawner = person.spawner()
        container_name = spawner.object_name
        server = docker_engine.client.containers.get(spawner.object_id)
        wrote = server.exec_run(["sh", "-c", f"echo mine > {HOME_IN_CONTAINER}/notes.txt"])
        assert wrote.exit_code == 0, wrote.output
        # The spawner's escaped user name is in it (DockerSpawner escapes "-" as "-2d").
        [home] = [
            mount["Name"]
            for mount in server.attrs["Mounts"]
            if mount["Destination"] == HOME_IN_CONTAINER
        ]
        assert home == f"datazentr-home-{spawner.escaped_name}"
        assert {home, SHARED_VOLUME, neighbour_home} <= volume_names(docker_engine)
        await person.stop()
        assert docker_engine.client.containers.get(container_name).status == "paused"
        await person.hub.aclose()

        deleted = await admin.hub.delete(f"users/{person.name}")
        assert deleted.status_code == 204, deleted.text
        assert orm.User.find(mock_hub.db, person.name) is None
        with pytest.raises(docker.errors.NotFound):
            docker_engine.client.containers.get(container_name)
        assert container_name not in spawners._PAUSED
        left = volume_names(docker_engine)
        assert home not in left
        assert {SHARED_VOLUME, neighbour_home} <= left
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_engine.client.volumes.get(neighbour_home).remove(force=True)
