"""Jupyter server extensions for the single-user server (AI assistant, pattern lookup).

Each extension lives in its own subpackage: ``extensions/<name>/{__init__,app,handlers}.py``.
"""
