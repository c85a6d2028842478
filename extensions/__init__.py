"""Jupyter server extensions for the single-user server (AI assistant, pattern lookup,
workspace export) and the IPython magics.

Each extension lives in its own subpackage: ``<name>/{__init__,app,handlers}.py``. Installed
(``extensions/pyproject.toml``, the single-user image) the package is ``datazentr_extensions``;
in the repository it is this folder, ``extensions``. Modules import each other relatively,
so the code works under either name.
"""
