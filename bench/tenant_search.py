"""Search under row-level security: what the tenant filter costs and whether it stays exact.

Loads N synthetic patterns into a migrated database, with organisations holding 1%, 10%
and 50% of them (the rest shared), builds the HNSW index, then for each organisation
runs the same filtered query (its own patterns, nearest first, pgvector iterative scans
as the api configures them) three ways in one run, query by query and taking turns at
going first, so machine noise and warm caches fall on both alike:

- as the api's role with the organisation's scope: row-level security on;
- as the owning superuser, whom row-level security does not bind: the baseline;
- exact (no index) within the organisation: the truth recall@10 is measured against.

    python bench/patterns.py --tenants          # 100k patterns
    python bench/patterns.py --tenants --small  # CI: 5k

Goal: row-level security costs at most 10% of p95, recall@10 at least 0.95 at every share.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Iterator

import numpy as np
import psycopg

from api.patterns.search import MAX_SCAN_TUPLES
from bench.patterns import KINDS, WORDS, percentile, structured_vectors, vector_text

SHARES = (0.01, 0.10, 0.50)
EF_SEARCH = 100
QUERY = (
    "SELECT id FROM patterns WHERE tenant_id = %s AND deleted_at IS NULL "
    "ORDER BY embedding <=> %s::vector LIMIT 10"
)
SCAN = {
    "hnsw.ef_search": str(EF_SEARCH),
    "hnsw.iterative_scan": "relaxed_order",
    "hnsw.max_scan_tuples": str(MAX_SCAN_TUPLES),
}
EXACT = {"enable_indexscan": "off", "enable_bitmapscan": "off"}


def owners(n: int, tenants: list[uuid.UUID]) -> list[uuid.UUID | None]:
    """Who owns each pattern: each organisation its share, the rest shared."""
    owned: list[uuid.UUID | None] = []
    for tenant, share in zip(tenants, SHARES, strict=True):
        owned.extend([tenant] * int(n * share))
    owned.extend([None] * (n - len(owned)))
    return owned


def rows(
    vectors: np.ndarray, owned: list[uuid.UUID | None], rng: np.random.Generator
) -> Iterator[tuple[object, ...]]:
    for i, tenant in enumerate(owned):
        words = rng.choice(WORDS, size=8)
        yield (
            str(uuid.uuid4()),
            KINDS[i % len(KINDS)],
            " ".join(words[:4]) + f" pattern {i}",
            " ".join(words),
            "python",
            json.dumps([{"path": "p.py", "content": f"# {' '.join(words)}\n"}]),
            "public" if tenant is None else "tenant",
            None if tenant is None else str(tenant),
            vector_text(vectors[i]),
            "bench-synthetic",
        )


def load(conn: psycopg.Connection, vectors: np.ndarray, owned: list[uuid.UUID | None]) -> None:
    rng = np.random.default_rng(7)
    conn.execute("DROP INDEX IF EXISTS ix_patterns_embedding_hnsw")
    columns = "id, kind, title, description, language, files, visibility, tenant_id, embedding, "
    columns += "embedding_model"
    with conn.cursor() as cursor, cursor.copy(f"COPY patterns ({columns}) FROM STDIN") as copy:
        for row in rows(vectors, owned, rng):
            copy.write_row(row)
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute(
        "CREATE INDEX ix_patterns_embedding_hnsw ON patterns USING hnsw "
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )
    conn.execute("ANALYZE patterns")
    conn.commit()


def _run(
    conn: psycopg.Connection, tenant: uuid.UUID, query: str, settings: dict[str, str]
) -> tuple[float, list[str]]:
    with conn.transaction():
        for name, value in settings.items():
            conn.execute("SELECT set_config(%s, %s, true)", (name, value))
        started = time.perf_counter()
        found = [str(r[0]) for r in conn.execute(QUERY, (tenant, query)).fetchall()]
        return (time.perf_counter() - started) * 1000, found


def bench_share(
    owner: psycopg.Connection,
    api: psycopg.Connection,
    tenant: uuid.UUID,
    share: float,
    queries: list[str],
) -> tuple[float, float]:
    """p95 with and without row-level security, and recall; prints one line."""
    scoped = SCAN | {"datazentr.tenant_id": str(tenant), "datazentr.user": "bench"}
    for query in queries[:5]:  # warm both connections' caches
        _run(api, tenant, query, scoped)
        _run(owner, tenant, query, SCAN)
    with_rls, without_rls, recalls = [], [], []
    for i, query in enumerate(queries):
        _exact_ms, truth = _run(owner, tenant, query, EXACT)
        # Whichever runs second finds the query's index pages in the CPU's caches: take
        # turns going first.
        if i % 2:
            plain_ms, plain_found = _run(owner, tenant, query, SCAN)
            rls_ms, found = _run(api, tenant, query, scoped)
        else:
            rls_ms, found = _run(api, tenant, query, scoped)
            plain_ms, plain_found = _run(owner, tenant, query, SCAN)
        with_rls.append(rls_ms)
        without_rls.append(plain_ms)
        recalls.append(len(set(found) & set(truth)) / max(len(truth), 1))
        assert len(found) == len(plain_found), "row-level security changed the answer's size"
    p95_rls, p95_plain = percentile(with_rls, 0.95), percentile(without_rls, 0.95)
    recall = statistics.mean(recalls)
    print(
        f"tenant with {share:4.0%} of patterns: p95 with RLS {p95_rls:6.2f} ms, "
        f"without {p95_plain:6.2f} ms, ratio {p95_rls / p95_plain:4.2f}x  "
        f"(p50 {statistics.median(with_rls):.2f} vs {statistics.median(without_rls):.2f} ms)  "
        f"recall@10 {recall:.3f}"
    )
    return p95_rls / p95_plain, recall


def run_tenants(owner_url: str, api_url: str, n: int, query_count: int) -> None:
    rng = np.random.default_rng(42)
    tenants = [uuid.uuid4() for _ in SHARES]
    # No prepared statements: the index must be planned with each query vector.
    with (
        psycopg.connect(owner_url, prepare_threshold=None) as owner,
        psycopg.connect(api_url, prepare_threshold=None) as api,
    ):
        owner.execute("TRUNCATE patterns CASCADE")
        for tenant in tenants:
            owner.execute(
                "INSERT INTO tenants (id, slug, name) VALUES (%s, %s, 'Bench')",
                (tenant, f"bench-{tenant.hex[:8]}"),
            )
        owner.commit()
        vectors = structured_vectors(n + query_count, rng)
        started = time.perf_counter()
        load(owner, vectors[:n], owners(n, tenants))
        print(
            f"patterns: {n:,} ({', '.join(f'{s:.0%}' for s in SHARES)} in three organisations, "
            f"the rest shared), queries: {query_count}, loaded and indexed in "
            f"{time.perf_counter() - started:.1f} s; hnsw.ef_search={EF_SEARCH}, iterative scans"
        )
        queries = [vector_text(v) for v in vectors[n:]]
        results = [
            bench_share(owner, api, tenant, share, queries)
            for tenant, share in zip(tenants, SHARES, strict=True)
        ]
    worst_ratio = max(ratio for ratio, _ in results)
    worst_recall = min(recall for _, recall in results)
    print(
        f"row-level security: worst p95 ratio {worst_ratio:.2f}x (goal <= 1.10), "
        f"worst recall@10 {worst_recall:.3f} (goal >= 0.95)"
    )
