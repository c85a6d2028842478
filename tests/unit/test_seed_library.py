"""The seed library: valid, varied, and every code pattern passes its own test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import get_args

import pytest

from api.patterns.seed import SeedPattern, read_seed_library
from api.schemas.patterns import Kind
from tests.support.filesystem import reachable_by_other_users

SEEDS = read_seed_library()
TESTED = [seed for seed in SEEDS if seed.test is not None]
PATTERN_TEST_TIMEOUT = 120


def test_at_least_sixty_patterns_across_every_kind() -> None:
    assert len(SEEDS) >= 60
    kinds = Counter(seed.fields["kind"] for seed in SEEDS)
    assert set(kinds) == set(get_args(Kind)), kinds
    assert all(count >= 3 for count in kinds.values()), kinds


def test_every_code_pattern_carries_a_test() -> None:
    untested = [
        seed.key
        for seed in SEEDS
        if seed.test is None and seed.fields["kind"] != "architecture_decision"
    ]
    assert untested == []


def test_titles_and_keys_are_unique() -> None:
    titles = Counter(seed.fields["title"].lower() for seed in SEEDS)
    assert [t for t, n in titles.items() if n > 1] == []
    assert all(seed.key == seed.key.lower() and " " not in seed.key for seed in SEEDS)


def _materialise(seed: SeedPattern, root: Path) -> Path:
    directory = root / seed.key
    for item in [*seed.fields["files"], seed.test]:
        assert item is not None
        path = directory / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item["content"], encoding="utf-8")
    return directory


def _run(directory: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATAZENTR_"))
    }
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-x",
            # Its own temp dir: a pytest on the default one resets pytest-of-<user> to 0700,
            # cutting the platform's Postgres (another user) off from its data dirs there.
            "--basetemp",
            str(directory / ".pytest-tmp"),
            ".",
        ],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=PATTERN_TEST_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def seed_test_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each pattern in a directory of its own, its test run by its own pytest (2 at a time)."""
    # Traversable by others, as the platform's data dirs need (Postgres runs as its own user);
    # the pattern runs must keep it so.
    root = reachable_by_other_users(tmp_path_factory.mktemp("seed-patterns"))
    shared = tmp_path_factory.getbasetemp().parent
    mode_before = shared.stat().st_mode
    directories = {seed.key: _materialise(seed, root) for seed in TESTED}
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(directories, pool.map(_run, directories.values()), strict=True))
    assert shared.stat().st_mode == mode_before, "a pattern's pytest changed the shared temp dir"
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("key", [seed.key for seed in TESTED])
def test_seed_pattern_passes_its_own_test(
    key: str, seed_test_runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    run = seed_test_runs[key]
    assert run.returncode == 0, f"{key}:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    assert " passed" in run.stdout
