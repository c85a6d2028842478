"""Deleting a hub user deletes their home directory with the platform's local spawner, inside
a real JupyterHub (MockHub, in this process, configured by ``apply_spawner``): the hub calls
``delete_forever``; only that user's ``users/<name>`` goes, never what a link in it leads
to, nor another user's home; deleting a named server alone keeps the home it shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from jupyterhub import orm
from jupyterhub.tests.mocking import MockHub

from api.core.config import Settings
from tests.support.mock_hub import MockHubUser

# The hub's event loop is the module's own (see the mock_hub fixture).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(mock_hub: MockHub) -> AsyncIterator[MockHubUser]:
    someone = MockHubUser(mock_hub, f"admin-{uuid.uuid4().hex[:8]}", admin=True)
    yield someone
    await someone.close()


def home_of(settings: Settings, name: str) -> Path:
    return settings.data_dir / "users" / name


async def test_deleting_a_user_deletes_their_home_and_nothing_else(
    mock_hub: MockHub, admin: MockHubUser, hub_settings: Settings, tmp_path: Path
) -> None:
    person = MockHubUser(mock_hub, f"leaving-{uuid.uuid4().hex[:8]}")
    started = await person.start()
    assert started.status_code in (201, 202), started.text
    home = home_of(hub_settings, person.name)
    assert home.is_dir()  # the spawner made it for the server
    (home / "notebooks").mkdir()
    (home / "notebooks" / "analysis.ipynb").write_text("{}")
    # A link in the home to files elsewhere: the link goes, the files stay.
    elsewhere = tmp_path / "shared-data"
    elsewhere.mkdir()
    (elsewhere / "dataset.csv").write_text("a,b\n1,2\n")
    (home / "data").symlink_to(elsewhere, target_is_directory=True)
    neighbour = home_of(hub_settings, f"staying-{uuid.uuid4().hex[:8]}")
    neighbour.mkdir(parents=True)
    (neighbour / "thesis.md").write_text("# mine")
    await person.stop()
    await person.hub.aclose()

    deleted = await admin.hub.delete(f"users/{person.name}")
    assert deleted.status_code == 204, deleted.text
    assert orm.User.find(mock_hub.db, person.name) is None
    assert not home.exists()
    assert (elsewhere / "dataset.csv").read_text() == "a,b\n1,2\n"
    assert (neighbour / "thesis.md").read_text() == "# mine"


async def test_deleting_a_named_server_keeps_the_home_it_shares(
    mock_hub: MockHub, admin: MockHubUser, hub_settings: Settings
) -> None:
    person = MockHubUser(mock_hub, f"named-{uuid.uuid4().hex[:8]}")
    try:
        # The hub knows the named server, as after a first start.
        person.user.get_or_create_spawner("lab2", "Lab 2")
        home = home_of(hub_settings, person.name)
        home.mkdir(parents=True)
        (home / "kept.txt").write_text("still here")

        removed = await admin.hub.request(
            "DELETE", f"users/{person.name}/servers/lab2", json={"remove": True}
        )
        assert removed.status_code == 204, removed.text
        assert "lab2" not in person.user.orm_user.orm_spawners
        assert (home / "kept.txt").read_text() == "still here"
    finally:
        await person.close()

    deleted = await admin.hub.delete(f"users/{person.name}")
    assert deleted.status_code == 204, deleted.text
    assert not home.exists()
