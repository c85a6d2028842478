"""Directories that processes running as other users must reach."""

from __future__ import annotations

from pathlib import Path


def reachable_by_other_users(path: Path) -> Path:
    """Let other users traverse into ``path`` (tests run as root; Postgres runs as its own
    unprivileged user and must reach its data dir under pytest's private temp dirs)."""
    for directory in (path, *path.parents):
        if directory in (Path("/tmp"), Path("/")):
            break
        directory.chmod(directory.stat().st_mode | 0o001)
    return path
