"""The generation benchmark runs (first descriptions only) and reports its numbers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "generate.py"


@pytest.mark.slow
def test_generation_benchmark_reports_time_and_pass_rate() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    print(run.stdout)
    assert re.search(r"time per project: p50 [0-9.]+ s, p95 [0-9.]+ s", run.stdout)
    assert "gate pass rate: 3/3 = 100%" in run.stdout
    assert re.search(r"sandbox overhead: .* ms in bubblewrap vs .* ms directly", run.stdout)
