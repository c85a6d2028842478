from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import List, Unicode

from .handlers import ExportHandler


class WorkspaceExportApp(ExtensionApp):
    """Serves ``GET /datazentr/export``: the workspace as a .tar.gz, streamed."""

    name = "workspace_export"

    archive_prefix = Unicode(
        "workspace", config=True, help="Top directory name inside the archive."
    )
    exclude = List(
        Unicode(),
        default_value=[
            ".cache",
            ".local/share/jupyter/runtime",
            ".ipython/profile_default/db",
            "__pycache__",
            ".ipynb_checkpoints",
        ],
        config=True,
        help="Paths (relative to the workspace) or directory names left out of the archive.",
    )

    def initialize_handlers(self) -> None:
        self.handlers.append((r"/datazentr/export", ExportHandler))
