"""The quality gates run generated code for real, inside bubblewrap (no network, one
writable directory, limits)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.generation import sandbox
from api.generation.gates import run_gates, scan_secrets
from api.generation.sandbox import Limits
from tests.support.network import loopback_listener

pytestmark = pytest.mark.skipif(
    not shutil.which("bwrap"), reason="bubblewrap missing: make system-deps installs it"
)

GOOD = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}


def gate(results: list, name: str):  # type: ignore[no-untyped-def,type-arg]
    return next(r for r in results if r.gate == name)


def test_a_good_project_passes_every_gate() -> None:
    results = run_gates(GOOD)
    assert [(r.gate, r.passed) for r in results] == [
        ("syntax", True),
        ("tests", True),
        ("security", True),
    ]
    assert gate(results, "tests").metrics["pass_rate"] == 1.0


def test_a_broken_project_fails_the_test_gate() -> None:
    broken = GOOD | {"calc.py": "def add(a, b):\n    return a - b\n"}
    results = run_gates(broken)
    tests = gate(results, "tests")
    assert not tests.passed
    assert tests.metrics["failed"] == 1 and tests.metrics["pass_rate"] == 0.0
    assert "assert -1 == 5" in tests.report


def test_a_syntax_error_fails_the_syntax_gate() -> None:
    results = run_gates(GOOD | {"calc.py": "def add(a, b)\n    return a + b\n"})
    assert not gate(results, "syntax").passed
    assert not gate(results, "tests").passed


def test_secrets_and_dangerous_calls_fail_the_security_gate() -> None:
    leaky = GOOD | {
        "config.py": 'AWS_KEY = "AKIAABCDEFGHIJKLMNOP"\n',
        "run.py": (
            "import subprocess\n\n\ndef go(cmd):\n    return subprocess.call(cmd, shell=True)\n"
        ),
    }
    security = gate(run_gates(leaky), "security")
    assert not security.passed
    assert security.metrics["secrets"] == 1 and security.metrics["bandit_high"] >= 1
    assert scan_secrets({"a.py": "x = 1\n"}) == []


@pytest.fixture
def listener() -> Iterator[int]:
    with loopback_listener() as port:
        yield port


def test_generated_code_cannot_reach_the_network(listener: int) -> None:
    files = {
        "tests/test_net.py": (
            "import socket\n\n\ndef test_phone_home():\n"
            f"    socket.create_connection(('127.0.0.1', {listener}), timeout=2)\n"
        )
    }
    tests = gate(run_gates(files), "tests")
    assert not tests.passed
    assert "Connection refused" in tests.report or "unreachable" in tests.report


def test_generated_code_cannot_write_outside_its_directory(tmp_path: Path) -> None:
    outside = tmp_path / "owned.txt"
    files = {
        "tests/test_escape.py": (
            "from pathlib import Path\n\n\ndef test_escape():\n"
            f"    Path({str(outside)!r}).write_text('x')\n"
            "    Path('/etc/owned').write_text('x')\n"
        )
    }
    tests = gate(run_gates(files), "tests")
    assert not tests.passed
    assert not outside.exists() and not Path("/etc/owned").exists()


def test_runaway_code_is_stopped_by_the_limits(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text("while True:\n    pass\n")
    result = sandbox.run(tmp_path, ["python", "spin.py"], Limits(wall_seconds=30, cpu_seconds=1))
    assert result.returncode != 0 and not result.timed_out  # SIGXCPU/SIGKILL from RLIMIT_CPU
    (tmp_path / "hog.py").write_text("x = bytearray(2 * 1024 * 1024 * 1024)\n")
    result = sandbox.run(tmp_path, ["python", "hog.py"], Limits(memory_bytes=512 * 1024 * 1024))
    assert result.returncode != 0 and "MemoryError" in result.stderr
    (tmp_path / "sleep.py").write_text("import time\ntime.sleep(30)\n")
    result = sandbox.run(tmp_path, ["python", "sleep.py"], Limits(wall_seconds=1))
    assert result.timed_out
