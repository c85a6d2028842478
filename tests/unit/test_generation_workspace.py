"""Writing a project into the user's server through the Jupyter contents API."""

from __future__ import annotations

import json

import httpx
import pytest

from api.errors import InvalidInput
from api.generation.workspace import WorkspaceUnavailable, check_folder, write_to_workspace


async def test_directories_first_then_files_with_the_users_token() -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def contents(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/hub/api/users/ada":
            return httpx.Response(200, json={"servers": {"": {"ready": True}}})
        seen.append(
            (request.url.path, request.headers["authorization"], json.loads(request.content))
        )
        return httpx.Response(201, json={})

    count = await write_to_workspace(
        {"README.md": "# hi\n", "pkg/core.py": "x = 1\n"},
        hub_url="http://hub:8000/",
        user="ada",
        token="tok",
        folder="projects/demo",
        transport=httpx.MockTransport(contents),
    )
    assert count == 2
    paths = [path.removeprefix("/user/ada/api/contents/") for path, _, _ in seen]
    assert paths == [
        "projects",
        "projects/demo",
        "projects/demo/pkg",
        "projects/demo/README.md",
        "projects/demo/pkg/core.py",
    ]
    assert {auth for _, auth, _ in seen} == {"token tok"}
    assert seen[-1][2] == {"type": "file", "format": "text", "content": "x = 1\n"}


async def test_a_stopped_server_is_a_clear_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"servers": {}}))
    with pytest.raises(WorkspaceUnavailable, match="not running"):
        await write_to_workspace(
            {"a.py": ""},
            hub_url="http://hub/",
            user="ada",
            token="t",
            folder="p",
            transport=transport,
        )


@pytest.mark.parametrize("folder", ["../etc", "/", "a/../../b", ""])
def test_folders_stay_inside_the_workspace(folder: str) -> None:
    with pytest.raises(InvalidInput):
        check_folder(folder)
