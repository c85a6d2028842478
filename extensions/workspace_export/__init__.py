"""Download the whole workspace (the server's root directory) as one archive."""

from typing import Any

from .app import WorkspaceExportApp


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": __name__, "app": WorkspaceExportApp}]


__all__ = ["WorkspaceExportApp"]
