"""JupyterHub configuration for DATAZENtr: every decision lives in ``hub.config``."""

from api.core.config import get_settings
from hub.config import apply_all

c = get_config()  # type: ignore[name-defined]  # noqa: F821 - provided by JupyterHub
apply_all(get_settings(), c)
