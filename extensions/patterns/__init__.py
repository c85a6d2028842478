"""Pattern lookup in JupyterLab: search the library, insert a pattern, report how it went."""

from typing import Any

from .app import PatternsApp


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": __name__, "app": PatternsApp}]


__all__ = ["PatternsApp"]
