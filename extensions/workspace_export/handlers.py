"""``GET /datazentr/export``: the workspace as a .tar.gz, streamed.

Permission: ``read`` on ``contents`` (the archive holds every file, as the contents api would
give them; JupyterHub scope ``custom:jupyter_server:read:contents``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

if TYPE_CHECKING:
    from .app import WorkspaceExportApp

CHUNK = 256 * 1024


class _ChunkWriter:
    """A write-only file object collecting what tarfile writes, handed out in chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def pending(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    def take(self) -> bytes:
        data, self.chunks = b"".join(self.chunks), []
        return data


def workspace_files(root: Path, exclude: list[str]) -> Iterator[Path]:
    """Regular files and directories under root, skipping excluded names and symlinks."""
    excluded_paths = {root / item for item in exclude if "/" in item}
    excluded_names = {item for item in exclude if "/" not in item}
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        subdirs[:] = sorted(
            d
            for d in subdirs
            if d not in excluded_names
            and here / d not in excluded_paths
            and not (here / d).is_symlink()
        )
        yield here
        for name in sorted(files):
            path = here / name
            if name not in excluded_names and path not in excluded_paths and not path.is_symlink():
                yield path


class ExportHandler(ExtensionHandlerMixin, JupyterHandler):
    """Stream the workspace as .tar.gz without building it in memory or on disk."""

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        root = await asyncio.to_thread(
            lambda: Path(self.settings["server_root_dir"]).expanduser().resolve()
        )
        app = cast("WorkspaceExportApp", self.extensionapp)
        prefix: str = app.archive_prefix
        exclude: list[str] = list(app.exclude)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.set_header("Content-Type", "application/gzip")
        self.set_header("Content-Disposition", f'attachment; filename="{prefix}-{stamp}.tar.gz"')
        self.set_header("Cache-Control", "no-store")
        writer = _ChunkWriter()
        # Stream mode ("w|gz"): tarfile writes forward only, so chunks can go out at once.
        with tarfile.open(fileobj=writer, mode="w|gz") as archive:  # type: ignore[call-overload]
            paths = await asyncio.to_thread(lambda: list(workspace_files(root, exclude)))
            for path in paths:
                arcname = str(Path(prefix) / path.relative_to(root))
                await asyncio.to_thread(_add, archive, path, arcname)
                if writer.pending() >= CHUNK:
                    self.write(writer.take())
                    await self.flush()
        self.write(writer.take())
        await self.finish()


def _add(archive: Any, path: Path, arcname: str) -> None:
    # Unreadable or vanished while archiving: leave it out, the rest still downloads.
    with contextlib.suppress(PermissionError, FileNotFoundError):
        archive.add(path, arcname=arcname, recursive=False)
