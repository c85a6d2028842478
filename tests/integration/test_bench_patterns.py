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


@pytest.mark.slow
def test_tenant_benchmark_compares_row_security_with_none_at_each_share() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--tenants", "--small"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    print(run.stdout)
    shares = re.findall(
        r"tenant with\s+(\d+)% of patterns: p95 with RLS\s+[0-9.]+ ms, without\s+[0-9.]+ ms, "
        r"ratio\s+[0-9.]+x .* recall@10 ([0-9.]+)",
        run.stdout,
    )
    assert [share for share, _ in shares] == ["1", "10", "50"]
    # Row-level security must not change which patterns are found.
    assert all(float(recall) >= 0.95 for _, recall in shares)
    assert "worst p95 ratio" in run.stdout
