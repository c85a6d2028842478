"""Fixtures every layer may use. Each test layer adds its own in its conftest."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment() -> Iterator[None]:
    """Tests never read a developer's .env or DATAZENTR_* variables by accident."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DATAZENTR_")}
    for key in saved:
        del os.environ[key]
    os.environ.pop("DATABASE_URL", None)
    cwd = Path.cwd()
    yield
    os.chdir(cwd)
    os.environ.update(saved)
