"""JupyterHub configuration for DATAZENtr: every decision lives in ``hub.config``."""

from api.core.config import get_settings
from hub.config import apply_all

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub
settings = get_settings()
apply_all(settings, c)
if settings.extra_hub_config is not None:
    # An operator's own additions, applied last so they win.
    load_subconfig(str(settings.extra_hub_config))  # type: ignore[name-defined]  # noqa: F821
