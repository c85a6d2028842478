"""The assistant inside a user's server: chat, inline completion, notebook generation.

The server extension relays to the platform api as the user (it never holds a model key)
and completes code offline with jedi. Its JupyterLab front end is built into ``labextensions/``
(no Node needed to install it).
"""

from pathlib import Path
from typing import Any

from .app import AssistantApp

LABEXTENSIONS_DIR = Path(__file__).parent / "labextensions"
LABEXTENSION_NAME = "@datazentr/assistant"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # __name__: the import name this package was loaded under (datazentr_extensions.assistant
    # when installed, extensions.assistant in the repository).
    return [{"module": __name__, "app": AssistantApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextensions/@datazentr/assistant", "dest": LABEXTENSION_NAME}]


__all__ = ["LABEXTENSIONS_DIR", "LABEXTENSION_NAME", "AssistantApp"]
