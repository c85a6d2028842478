"""The pattern benchmark runs in CI in its small configuration (own embedded Postgres)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "patterns.py"


@pytest.mark.slow
def test_small_benchmark_runs_and_reports_recall_and_ratios() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--small"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    print(run.stdout)
    assert "exact search (baseline)" in run.stdout
    recalls = [float(r) for r in re.findall(r"recall@10 ([0-9.]+)", run.stdout)]
    assert recalls and max(recalls) >= 0.98
    assert "vs exact" in run.stdout
    assert re.search(r"embeddings .*: \d+ sentences/s", run.stdout)
    assert "search function" in run.stdout
