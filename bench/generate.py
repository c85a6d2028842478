"""Project generation benchmark: time per project and gate pass rate, offline engine.

Starts an embedded PostgreSQL in a temporary directory, migrates it, loads the seed
pattern library, then generates every description of ``bench/descriptions.txt`` through
the real pipeline (intent → pattern search → architect → code → tests → docs → sandboxed
quality gates → remember) and prints:

- time per project (p50, p95, max), including the gates, which really run in bubblewrap;
- the gate pass rate (projects whose three gates all passed) and the tests' pass rate;
- time per gate (median), and the sandbox's own overhead: ``python -c pass`` inside
  bubblewrap + prlimit against the same command run directly (the baseline).

    python bench/generate.py            # every description
    python bench/generate.py --limit 4  # the first four
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.core.postgres import EmbeddedPostgres
from api.generation import eventlog, sandbox
from api.generation.pipeline import run_project
from api.generation.state import rebuild
from api.models import Project
from api.patterns.embedder import get_embedder
from api.patterns.seed import load_seed_library

DESCRIPTIONS = Path(__file__).with_name("descriptions.txt")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def sandbox_overhead(runs: int = 10) -> tuple[float, float]:
    direct, boxed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            direct.append(time.perf_counter() - started)
            boxed.append(sandbox.run(Path(tmp), ["python", "-c", "pass"]).seconds)
    return statistics.median(direct) * 1000, statistics.median(boxed) * 1000


async def generate_all(url: str, descriptions: list[str]) -> list[dict[str, object]]:
    database = Database(url)
    embedder = get_embedder(Settings(_env_file=None))
    embedder.embed(["warm up"])
    results = []
    try:
        for description in descriptions:
            async with database.sessionmaker() as session:
                project = Project(id=uuid.uuid4(), owner="bench", description=description)
                project.options = {"language": "python", "stack": [], "constraints": []}
                session.add(project)
                await session.flush()
                await eventlog.append(session, project.id, "project.created", {})
                await session.commit()
            started = time.perf_counter()
            status = await run_project(database, embedder, project.id)
            seconds = time.perf_counter() - started
            async with database.sessionmaker() as session:
                state = rebuild(await eventlog.all_events(session, project.id))
            results.append(
                {
                    "description": description,
                    "status": status,
                    "seconds": seconds,
                    "gates": state.gates,
                    "files": len(state.files),
                }
            )
            chosen = state.steps.get("architect", {}).get("decision", "")
            print(f"  {seconds:5.2f} s  {status:9}  {description}\n           {chosen}", flush=True)
    finally:
        await database.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N descriptions")
    args = parser.parse_args(argv)
    lines = [line.strip() for line in DESCRIPTIONS.read_text().splitlines()]
    descriptions = [line for line in lines if line and not line.startswith("#")][: args.limit]

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        Path(tmp).chmod(0o755)  # the server may run as an unprivileged user
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")
        server = EmbeddedPostgres(settings)
        server.start()
        try:
            url = settings.sqlalchemy_url
            migrate.upgrade(url)
            load_seed_library(url, embedder=get_embedder(settings))
            where = sandbox.default_backend().name
            print(f"projects: {len(descriptions)} (offline engine, gates in {where})")
            results = asyncio.run(generate_all(url, descriptions))
        finally:
            server.stop()

    times = [float(r["seconds"]) for r in results]  # type: ignore[arg-type]
    passed = [r for r in results if r["status"] == "succeeded"]
    print(
        f"time per project: p50 {percentile(times, 0.5):.2f} s, "
        f"p95 {percentile(times, 0.95):.2f} s, max {max(times):.2f} s (goal: p50 <= 20 s)"
    )
    print(
        f"gate pass rate: {len(passed)}/{len(results)} = {len(passed) / len(results):.0%} "
        f"(goal: >= 90%)"
    )
    rates = [r["gates"]["tests"]["metrics"]["pass_rate"] for r in results]  # type: ignore[index]
    print(f"generated tests' pass rate (mean over projects): {statistics.mean(rates):.1%}")
    for gate in ("syntax", "tests", "security"):
        seconds = [r["gates"][gate]["metrics"]["seconds"] for r in results]  # type: ignore[index]
        print(f"gate {gate}: median {statistics.median(seconds):.2f} s")
    direct_ms, boxed_ms = sandbox_overhead()
    print(
        f"sandbox overhead: python -c pass {boxed_ms:.0f} ms in {sandbox.default_backend().name} "
        f"vs {direct_ms:.0f} ms "
        f"directly (baseline) = +{boxed_ms - direct_ms:.0f} ms per sandboxed command, "
        f"ratio {boxed_ms / direct_ms:.2f}x"
    )
    return 0 if len(passed) / len(results) >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
