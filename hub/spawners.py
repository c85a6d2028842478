"""Spawners that start each user's JupyterLab.

``local``: a process on this machine, for development and machines without Docker. It
does not isolate users from each other or from the platform; Docker is the product path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import default

from api.core.config import Settings


class LocalSessionSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    """One local JupyterLab process per user, home directories under the data dir."""

    @default("args")
    def _default_args(self) -> list[str]:
        # jupyter-server refuses to run as root unless told; the hub may run as root.
        return ["--allow-root"] if os.geteuid() == 0 else []


SPAWNERS: dict[str, type] = {"local": LocalSessionSpawner}


def apply_spawner(settings: Settings, c: Any) -> None:
    c.JupyterHub.spawner_class = SPAWNERS[settings.spawner]
    c.Spawner.default_url = "/lab"
    # The single-user server from the platform's own environment, not whatever is on PATH.
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.SimpleLocalProcessSpawner.home_dir_template = str(settings.data_dir / "users" / "{username}")
