"""The lock (constraints.txt) installs on every Python the project supports.

It is regenerated with `pip freeze` on a developer's Python, which may be newer than the
Python of Debian bookworm (3.11.2) that the single-user image and a fresh Debian machine use;
a pin whose Requires-Python leaves that out makes `pip install -c constraints.txt` backtrack
for ever (soupsieve 3+ needs 3.11.5).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OLDEST_PYTHON = "3.11.2"  # Debian bookworm's python3


def test_every_pin_supports_the_oldest_python() -> None:
    unsupported = []
    for line in (PROJECT_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name = Requirement(line).name
        try:
            requires_python = metadata(name).json.get("requires_python")
        except PackageNotFoundError:
            continue  # pinned for another platform; not installed here
        if isinstance(requires_python, str) and OLDEST_PYTHON not in SpecifierSet(requires_python):
            unsupported.append(f"{line} (Requires-Python {requires_python})")
    assert not unsupported, f"pins that do not install on Python {OLDEST_PYTHON}: {unsupported}"
