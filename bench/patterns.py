"""Pattern library benchmark: HNSW vs exact search, the whole search path, embeddings.

Loads N synthetic patterns (default 100,000) into the real ``patterns`` table of a fresh,
migrated database, builds the HNSW index (m=16, ef_construction=64), then measures in one
run, against the baseline measured in the same run:

- vector search p50/p95 and recall@10 at several ``hnsw.ef_search`` values, and the
  ratio of their latency to exact (sequential) search;
- the whole search function (query embedding, hybrid fusion with full-text, ranking);
- embedding throughput of the offline model (sentences/s) and single-query latency.

Vectors are structured like real embeddings (clusters in a low-rank subspace), not
uniform random, which would make any approximate index look broken.

    python bench/patterns.py              # 100k
    python bench/patterns.py --n 1000000  # 1M
    python bench/patterns.py --small      # CI: 5k patterns, seconds
    python bench/patterns.py --tenants    # search within organisations, RLS on vs off

By default an embedded PostgreSQL is started in a temporary directory; ``--database-url``
uses an existing one (a database that may be dropped and recreated: it is emptied).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.core import migrate
from api.core.config import Settings, with_role
from api.core.db import Database
from api.core.postgres import EmbeddedPostgres
from api.patterns.access import Viewer
from api.patterns.embedder import MiniLMEmbedder
from api.patterns.search import search_patterns
from api.patterns.seed import read_seed_library

DIMENSION = 384
WORDS = [
    "async",
    "http",
    "client",
    "retry",
    "cache",
    "database",
    "model",
    "fastapi",
    "route",
    "pytest",
    "fixture",
    "docker",
    "kubernetes",
    "deploy",
    "logging",
    "json",
    "csv",
    "pandas",
    "pipeline",
    "cli",
    "parser",
    "config",
    "yaml",
    "token",
    "auth",
    "password",
    "queue",
    "worker",
    "event",
    "stream",
    "notebook",
    "dashboard",
    "widget",
    "sql",
    "index",
    "migration",
]
KINDS = ("snippet", "module", "project_template", "architecture_decision", "deployment_config")


def structured_vectors(n: int, rng: np.random.Generator, clusters: int = 256) -> np.ndarray:
    """Unit vectors in clusters of a rank-48 subspace plus noise, like sentence embeddings."""
    basis = rng.normal(size=(48, DIMENSION))
    centres = rng.normal(size=(clusters, 48)) @ basis
    labels = rng.integers(0, clusters, size=n)
    spread = rng.uniform(0.3, 0.8, size=(clusters, 1))
    points = centres[labels] + spread[labels] * (rng.normal(size=(n, 48)) @ basis)
    points += 0.5 * rng.normal(size=(n, DIMENSION))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.5f}" for x in vector) + "]"


def rows(n: int, vectors: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[object, ...]]:
    for i in range(n):
        words = rng.choice(WORDS, size=8)
        title = " ".join(words[:4]) + f" pattern {i}"
        files = json.dumps([{"path": "p.py", "content": f"# {' '.join(words)}\n"}])
        yield (
            str(uuid.uuid4()),
            KINDS[i % len(KINDS)],
            title,
            " ".join(words),
            "python",
            "{" + ",".join(sorted(set(words[:2]))) + "}",
            files,
            "public",
            vector_text(vectors[i]),
            "bench-synthetic",
        )


def load(conn: psycopg.Connection, n: int, vectors: np.ndarray, rng: np.random.Generator) -> float:
    started = time.perf_counter()
    conn.execute("DROP INDEX IF EXISTS ix_patterns_embedding_hnsw")
    columns = (
        "id, kind, title, description, language, tags, files, visibility, embedding, "
        "embedding_model"
    )
    with conn.cursor() as cursor, cursor.copy(f"COPY patterns ({columns}) FROM STDIN") as copy:
        for row in rows(n, vectors, rng):
            copy.write_row(row)
    conn.commit()
    return time.perf_counter() - started


def build_index(conn: psycopg.Connection) -> float:
    started = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET max_parallel_maintenance_workers = 1")
    conn.execute(
        "CREATE INDEX ix_patterns_embedding_hnsw ON patterns USING hnsw "
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )
    conn.execute("ANALYZE patterns")
    conn.commit()
    return time.perf_counter() - started


QUERY = "SELECT id FROM patterns ORDER BY embedding <=> %s::vector LIMIT 10"


def timed_queries(
    conn: psycopg.Connection, queries: list[str], settings: dict[str, str]
) -> tuple[list[float], list[list[str]]]:
    latencies, results = [], []
    with conn.transaction():
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        for q in queries:
            started = time.perf_counter()
            found = [str(r[0]) for r in conn.execute(QUERY, (q,)).fetchall()]
            latencies.append((time.perf_counter() - started) * 1000)
            results.append(found)
    return latencies, results


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def bench_database(conn: psycopg.Connection, queries: list[str], ef_values: list[int]) -> None:
    exact_settings = {"enable_indexscan": "off", "enable_bitmapscan": "off"}
    timed_queries(conn, queries[:5], exact_settings)  # warm the cache
    exact_lat, truth = timed_queries(conn, queries, exact_settings)
    exact_p50 = statistics.median(exact_lat)
    print(
        f"exact search (baseline): p50 {exact_p50:.1f} ms, p95 {percentile(exact_lat, 0.95):.1f} ms"
    )
    for ef in ef_values:
        settings = {"hnsw.ef_search": str(ef)}
        timed_queries(conn, queries[:5], settings)
        lat, found = timed_queries(conn, queries, settings)
        recall = statistics.mean(
            len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)
        )
        p50, p95 = statistics.median(lat), percentile(lat, 0.95)
        print(
            f"hnsw ef_search={ef:<4d} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
            f"recall@10 {recall:.3f}  "
            f"p50 vs exact: {exact_p50 / p50:5.1f}x faster"
        )


def bench_search_path(url: str, texts: list[str], embedder: MiniLMEmbedder) -> None:
    async def run() -> list[float]:
        database = Database(url)
        viewer = Viewer(name="bench", tenant_id=None)
        latencies = []
        try:
            for i, text in enumerate(texts):
                async with database.sessionmaker() as session:
                    started = time.perf_counter()
                    await search_patterns(session, embedder, viewer, text, limit=10)
                    if i >= 3:  # warm-up
                        latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await database.dispose()
        return latencies

    latencies = asyncio.run(run())
    print(
        f"search function (embed query + hybrid + rank), {len(latencies)} queries: "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms"
    )


def bench_embeddings(embedder: MiniLMEmbedder, sentences: list[str]) -> None:
    embedder.embed(sentences[:8])  # load the model
    started = time.perf_counter()
    embedder.embed(sentences)
    batch = len(sentences) / (time.perf_counter() - started)
    single = []
    for sentence in sentences[:50]:
        t = time.perf_counter()
        embedder.embed([sentence[:120]])
        single.append((time.perf_counter() - t) * 1000)
    print(
        f"embeddings ({embedder.model_id}, ONNX int8): {batch:.0f} sentences/s batched "
        f"({len(sentences)} pattern texts); single query p50 {statistics.median(single):.1f} ms"
    )


def sample_sentences(count: int) -> list[str]:
    seeds = read_seed_library()
    texts = []
    for seed in seeds:
        fields = seed.fields
        texts.append(f"{fields['title']}. {fields['description']}")
        texts.append(fields["files"][0]["content"][:300])
    while len(texts) < count:
        texts.extend(texts)
    return texts[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="patterns to load")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", default="40,100,200", help="comma-separated values")
    parser.add_argument("--small", action="store_true", help="CI size: 5,000 patterns, 50 queries")
    parser.add_argument("--database-url", help="use this PostgreSQL (emptied) instead of embedded")
    parser.add_argument(
        "--tenants",
        action="store_true",
        help="search within organisations of 1%%, 10%%, 50%% of the patterns, with row-level "
        "security against without (bench/tenant_search.py)",
    )
    args = parser.parse_args(argv)
    if args.small:
        args.n, args.queries = 5_000, 50
    ef_values = [int(v) for v in args.ef_search.split(",")]
    rng = np.random.default_rng(42)

    with tempfile.TemporaryDirectory(prefix="bench-patterns-") as tmp:
        server = None
        if args.database_url:
            url = Settings(_env_file=None, database_url=args.database_url).sqlalchemy_url
        else:
            Path(tmp).chmod(0o755)  # the server may run as an unprivileged user
            settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")
            server = EmbeddedPostgres(settings)
            server.start()
            url = settings.sqlalchemy_url
        try:
            migrate.upgrade(url)
            plain = url.replace("postgresql+psycopg://", "postgresql://")
            if args.tenants:
                from bench.tenant_search import run_tenants  # it reuses this module's data

                api_url = with_role(url, migrate.DEFAULT_APP_ROLE, None)
                run_tenants(plain, api_url.replace("+psycopg", ""), args.n, args.queries)
                return 0
            # No prepared statements: the index must be planned with each query vector.
            with psycopg.connect(plain, prepare_threshold=None) as conn:
                conn.execute("TRUNCATE patterns CASCADE")
                conn.commit()
                print(f"patterns: {args.n:,}, queries: {args.queries}, dimension {DIMENSION}")
                vectors = structured_vectors(args.n + args.queries, rng)
                print(f"load (COPY + full-text document): {load(conn, args.n, vectors, rng):.1f} s")
                print(f"HNSW build (m=16, ef_construction=64): {build_index(conn):.1f} s")
                queries = [vector_text(v) for v in vectors[args.n :]]
                bench_database(conn, queries, ef_values)
            embedder = MiniLMEmbedder()
            sentences = sample_sentences(128 if args.small else 512)
            bench_embeddings(embedder, sentences)
            texts = [s.split(".")[0] for s in sentences[: 30 if args.small else 100]]
            bench_search_path(url, texts, embedder)
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
