"""DATAZENtr platform REST API, run by JupyterHub as the managed service ``api``."""

__version__ = "0.1.0"
