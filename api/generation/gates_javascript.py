"""The quality gates of a JavaScript (Node) project, run in the same sandbox as Python's:
syntax (``node --check`` on every script), tests (``node --test``: count and pass rate)
and security (the secret scan; there is no bandit for JavaScript, so dynamic code
execution, ``eval`` and ``new Function``, is reported as a finding instead)."""

from __future__ import annotations

import re
from pathlib import Path

from api.generation import sandbox
from api.generation.gates import GateResult, scan_secrets
from api.generation.sandbox import Backend, Limits

SCRIPT_SUFFIXES = (".js", ".cjs", ".mjs")
TAP_COUNT = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)
DYNAMIC_CODE = re.compile(r"\beval\s*\(|\bnew\s+Function\s*\(")


def scripts(files: dict[str, str]) -> list[str]:
    return sorted(p for p in files if p.endswith(SCRIPT_SUFFIXES) and "node_modules/" not in p)


async def syntax_gate(
    directory: Path, limits: Limits, backend: Backend, files: dict[str, str]
) -> GateResult:
    failed: list[str] = []
    seconds = 0.0
    for path in scripts(files):
        result = await sandbox.run_async(directory, ["node", "--check", path], limits, backend)
        seconds += result.seconds
        if result.returncode != 0:
            failed.append(f"{path}:\n{result.stderr.strip()}")
    return GateResult(
        "syntax",
        bool(scripts(files)) and not failed,
        {"scripts": len(scripts(files)), "failed": len(failed), "seconds": round(seconds, 3)},
        "\n\n".join(failed) or ("" if scripts(files) else "no JavaScript files"),
    )


async def tests_gate(directory: Path, limits: Limits, backend: Backend) -> GateResult:
    result = await sandbox.run_async(
        directory, ["node", "--test", "--test-reporter=tap"], limits, backend
    )
    counts = {name: int(value) for name, value in TAP_COUNT.findall(result.stdout)}
    total = counts.get("tests", 0)
    failed = counts.get("fail", 0) + counts.get("cancelled", 0)
    skipped = counts.get("skipped", 0) + counts.get("todo", 0)
    ran = total - skipped
    passed_tests = ran - failed
    return GateResult(
        "tests",
        result.returncode == 0 and ran > 0 and failed == 0,
        {
            "tests": total,
            "passed": passed_tests,
            "failed": failed,
            "skipped": skipped,
            "pass_rate": round(passed_tests / ran, 4) if ran else 0.0,
            "timed_out": result.timed_out,
            "seconds": round(result.seconds, 3),
        },
        (result.stdout + result.stderr).strip(),
    )


def security_gate(files: dict[str, str]) -> GateResult:
    secrets = scan_secrets(files)
    dynamic = [
        f"{path}:{number} dynamic code execution"
        for path in scripts(files)
        if not path.startswith("test/")
        for number, line in enumerate(files[path].splitlines(), start=1)
        if DYNAMIC_CODE.search(line)
    ]
    lines = [f"{s['path']}:{s['line']} possible secret ({s['kind']})" for s in secrets]
    return GateResult(
        "security",
        not secrets and not dynamic,
        {"secrets": len(secrets), "dynamic_code": len(dynamic), "seconds": 0.0},
        "\n".join(lines + dynamic),
    )
