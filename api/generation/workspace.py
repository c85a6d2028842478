""" "Open in my workspace": write a project's files into the user's own Jupyter server
through its contents API, with the user's own token (the api holds no other credential
for user servers)."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

import httpx

from api.errors import ApiError, InvalidInput

log = logging.getLogger(__name__)

FOLDER_SHAPE = re.compile(r"[A-Za-z0-9_.-][A-Za-z0-9_. /-]{0,99}")


class WorkspaceUnavailable(ApiError):
    status = 409
    code = "workspace_unavailable"


def check_folder(folder: str) -> str:
    folder = folder.strip().strip("/")
    if not FOLDER_SHAPE.fullmatch(folder) or ".." in folder.split("/"):
        raise InvalidInput(f"{folder!r} is not a folder name (letters, digits, _ . - /).")
    return folder


def directories(folder: str, paths: list[str]) -> list[str]:
    found = {folder}
    parts = folder.split("/")
    found.update("/".join(parts[:i]) for i in range(1, len(parts)))
    for path in paths:
        pieces = path.split("/")[:-1]
        found.update(f"{folder}/{'/'.join(pieces[:i])}" for i in range(1, len(pieces) + 1))
    return sorted(found, key=lambda d: (d.count("/"), d))


async def write_to_workspace(
    files: dict[str, str],
    *,
    hub_url: str,
    user: str,
    token: str,
    folder: str,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """PUT every directory and file; returns the number of files written."""
    base = f"{hub_url.rstrip('/')}/user/{quote(user)}/api/contents"
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(
        timeout=30, transport=transport, headers=headers, follow_redirects=False
    ) as client:
        try:
            await _check_server_ready(client, hub_url, user)
            for directory in directories(folder, list(files)):
                await _put(client, f"{base}/{quote(directory)}", {"type": "directory"})
            for path, content in sorted(files.items()):
                body = {"type": "file", "format": "text", "content": content}
                await _put(client, f"{base}/{quote(folder + '/' + path)}", body)
        except httpx.TransportError as exc:
            raise WorkspaceUnavailable(f"Your server could not be reached ({exc}).") from exc
    return len(files)


async def _check_server_ready(client: httpx.AsyncClient, hub_url: str, user: str) -> None:
    response = await client.get(f"{hub_url.rstrip('/')}/hub/api/users/{quote(user)}")
    if response.status_code in (401, 403):
        raise WorkspaceUnavailable(
            "This token may not reach your server: use a token from the hub's Token page "
            "(a browser session's api cookie only reaches the api)."
        )
    if response.status_code != 200:
        raise WorkspaceUnavailable(
            f"The hub did not say whether your server runs ({response.status_code})."
        )
    server = (response.json().get("servers") or {}).get("") or {}
    if not server.get("ready"):
        raise WorkspaceUnavailable(
            "Your Jupyter server is not running: start it from the hub's home page, then try again."
        )


async def _put(client: httpx.AsyncClient, url: str, body: dict[str, str]) -> None:
    response = await client.put(url, json=body)
    if response.status_code in (200, 201):
        return
    if response.status_code in (302, 404, 424, 503):
        raise WorkspaceUnavailable(
            "Your Jupyter server is not running: start it from the hub's home page, then try again."
        )
    if response.status_code == 403:
        raise WorkspaceUnavailable(
            "This token may not write to your server: use a token from the hub's Token page "
            "(a browser session's api cookie only reaches the api)."
        )
    raise WorkspaceUnavailable(f"Your server refused a file ({response.status_code}).")
