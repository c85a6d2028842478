"""Quality gates that execute: syntax, tests and security, each inside the sandbox.

Each gate works on its own scratch copy of the project's files, so nothing a gate (or the
generated code it runs) does can change the project or influence another gate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.generation import sandbox
from api.generation.sandbox import Backend, Limits

log = logging.getLogger(__name__)

REPORT_CHARS = 4000
# Syntax errors and names that can never resolve (the flake8 "E9,F63,F7,F82" set).
RUFF_RULES = "E9,F63,F7,F82"
SECRET_PATTERNS = {
    "aws_access_key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private_key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "github_token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}"),
    "slack_token": re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"),
    "openai_key": re.compile(r"sk-[A-Za-z0-9]{32,}"),
    "assigned_secret": re.compile(
        r"(?i)(?:password|passwd|secret|api_key|token)\s*=\s*['\"][A-Za-z0-9/+_\-]{16,}['\"]"
    ),
}


@dataclass
class GateResult:
    gate: str
    passed: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    report: str = ""

    def as_payload(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "passed": self.passed,
            "metrics": self.metrics,
            "report": self.report[-REPORT_CHARS:],
        }


def write_files(directory: Path, files: dict[str, str]) -> None:
    for path, content in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


async def syntax_gate(directory: Path, limits: Limits, backend: Backend) -> GateResult:
    compiled = await sandbox.run_async(
        directory, ["python", "-m", "compileall", "-q", "."], limits, backend
    )
    ruff = await sandbox.run_async(
        directory,
        ["python", "-m", "ruff", "check", "--no-cache", "--isolated", "--select", RUFF_RULES, "."],
        limits,
        backend,
    )
    passed = compiled.returncode == 0 and ruff.returncode == 0
    return GateResult(
        "syntax",
        passed,
        {
            "compile_ok": compiled.returncode == 0,
            "ruff_ok": ruff.returncode == 0,
            "seconds": round(compiled.seconds + ruff.seconds, 3),
        },
        (compiled.stdout + compiled.stderr + ruff.stdout + ruff.stderr).strip(),
    )


async def tests_gate(directory: Path, limits: Limits, backend: Backend) -> GateResult:
    (directory / ".gates").mkdir(exist_ok=True)
    result = await sandbox.run_async(
        directory,
        [
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml=.gates/junit.xml",
            "-o",
            "junit_family=xunit2",
        ],
        limits,
        backend,
    )
    total = failed = skipped = 0
    junit = directory / ".gates" / "junit.xml"
    if junit.exists():
        root = ET.parse(junit).getroot()  # noqa: S314 - written by pytest in our sandbox
        for suite in root.iter("testsuite"):
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    ran = total - skipped
    passed_tests = ran - failed
    pass_rate = round(passed_tests / ran, 4) if ran else 0.0
    passed = result.returncode == 0 and ran > 0 and failed == 0
    return GateResult(
        "tests",
        passed,
        {
            "tests": total,
            "passed": passed_tests,
            "failed": failed,
            "skipped": skipped,
            "pass_rate": pass_rate,
            "timed_out": result.timed_out,
            "seconds": round(result.seconds, 3),
        },
        (result.stdout + result.stderr).strip(),
    )


def scan_secrets(files: dict[str, str]) -> list[dict[str, str]]:
    found = []
    for path, content in sorted(files.items()):
        for number, line in enumerate(content.splitlines(), start=1):
            for kind, pattern in SECRET_PATTERNS.items():
                if pattern.search(line):
                    found.append({"path": path, "line": str(number), "kind": kind})
    return found


async def security_gate(
    directory: Path, limits: Limits, files: dict[str, str], backend: Backend
) -> GateResult:
    (directory / ".gates").mkdir(exist_ok=True)
    result = await sandbox.run_async(
        directory,
        [
            "python",
            "-m",
            "bandit",
            "-r",
            ".",
            "-q",
            "-f",
            "json",
            "-o",
            ".gates/bandit.json",
            "-x",
            "./tests,./.gates",
            "-s",
            "B101",
        ],
        limits,
        backend,
    )
    issues: list[dict[str, Any]] = []
    report_file = directory / ".gates" / "bandit.json"
    bandit_ok = report_file.exists()
    if bandit_ok:
        issues = json.loads(report_file.read_text()).get("results", [])
    high = [i for i in issues if i.get("issue_severity") == "HIGH"]
    secrets = scan_secrets(files)
    passed = bandit_ok and not high and not secrets
    lines = [
        f"{i['filename']}:{i['line_number']} {i['test_id']} {i['issue_severity']} {i['issue_text']}"
        for i in issues
    ] + [f"{s['path']}:{s['line']} possible secret ({s['kind']})" for s in secrets]
    if not bandit_ok:
        lines.append(result.stderr)
    return GateResult(
        "security",
        passed,
        {
            "bandit_issues": len(issues),
            "bandit_high": len(high),
            "secrets": len(secrets),
            "seconds": round(result.seconds, 3),
        },
        "\n".join(lines),
    )


def python_gates(
    files: dict[str, str], limits: Limits, box: Backend
) -> list[Callable[[Path], Awaitable[GateResult]]]:
    return [
        lambda d: syntax_gate(d, limits, box),
        lambda d: tests_gate(d, limits, box),
        lambda d: security_gate(d, limits, files, box),
    ]


def javascript_gates(
    files: dict[str, str], limits: Limits, box: Backend
) -> list[Callable[[Path], Awaitable[GateResult]]]:
    from api.generation import gates_javascript as js

    async def security(_directory: Path) -> GateResult:
        return js.security_gate(files)

    return [
        lambda d: js.syntax_gate(d, limits, box, files),
        lambda d: js.tests_gate(d, limits, box),
        security,
    ]


async def run_gates_async(
    files: dict[str, str],
    limits: Limits | None = None,
    backend: Backend | None = None,
    language: str = "python",
) -> list[GateResult]:
    """The language's gates (syntax, tests, security), each on its own scratch copy."""
    limits = limits or Limits()
    box = backend or sandbox.default_backend()
    gates = javascript_gates if language == "javascript" else python_gates
    runners = gates(files, limits, box)
    results = []
    for runner in runners:
        with tempfile.TemporaryDirectory(prefix="datazentr-gate-") as scratch:
            directory = Path(scratch)
            write_files(directory, files)
            results.append(await runner(directory))
    return results


def run_gates(
    files: dict[str, str],
    limits: Limits | None = None,
    backend: Backend | None = None,
    language: str = "python",
) -> list[GateResult]:
    """Blocking form of :func:`run_gates_async`, for scripts and tests."""
    return asyncio.run(run_gates_async(files, limits, backend, language))
