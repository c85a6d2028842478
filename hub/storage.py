"""Storage samples: the size of each running person's home, for the api's storage meter.

With Docker, a person's homes are the named volumes ``datazentr-home-<escaped name>`` (and
``…--<server>`` for named servers, :mod:`hub.spawners`); their sizes come from the engine's
``/system/df``, which measures every volume at once (slow on a busy engine, so the quota
enforcer samples only every few rounds). With the local spawner a home is the folder
``<data dir>/users/<name>``, measured without following links.
"""

from __future__ import annotations

import logging
import os
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from escapism import escape  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

VOLUME_PREFIX = "datazentr-home-"
_SAFE = set(string.ascii_lowercase + string.digits)


def escaped(name: str) -> str:
    """A user name as DockerSpawner writes it into object names."""
    return str(escape(name, _SAFE, escape_char="-")).lower()


def volume_sizes(df: dict[str, Any], users: Iterable[str]) -> dict[str, int]:
    """Bytes per user from an engine's ``/system/df`` answer: the sum of their homes."""
    owners = {VOLUME_PREFIX + escaped(user): user for user in users}
    sizes: dict[str, int] = {}
    for volume in df.get("Volumes") or []:
        name = str(volume.get("Name") or "")
        # ``--<server>`` follows the escaped name, which may itself start with "-" (an
        # escaped character) but never holds "--" ("-" is escaped as "-2d").
        rest = name.removeprefix(VOLUME_PREFIX)
        cut = rest.find("--", 1)
        user = owners.get(VOLUME_PREFIX + (rest if cut < 0 else rest[:cut]))
        size = (volume.get("UsageData") or {}).get("Size")
        if user is None or not isinstance(size, int) or size < 0:
            continue  # not a home of these users, or not measured (-1)
        sizes[user] = sizes.get(user, 0) + size
    return sizes


def folder_size(path: Path) -> int:
    """Bytes under ``path`` (files' sizes; links counted as links, never followed)."""
    total = 0
    stack = [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def docker_sizes(users: Iterable[str], docker_host: str | None = None) -> dict[str, int]:
    from hub.docker_images import docker_client

    client = docker_client(docker_host, timeout=120)
    try:
        return volume_sizes(client.df(), users)
    finally:
        client.close()


def local_sizes(users_dir: Path, users: Iterable[str]) -> dict[str, int]:
    return {user: folder_size(users_dir / user) for user in users if (users_dir / user).is_dir()}
