"""Featured bundles shipped with the platform, made from the seed pattern library.

``load_featured_bundles`` runs at start after the seed library: it adds the bundles the
database does not have yet and never touches one that is already there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import create_engine, pool, select, text
from sqlalchemy.orm import Session

from api.models import Bundle, BundlePattern, Pattern

log = logging.getLogger(__name__)

PLATFORM_AUTHOR = "DATAZENtr"


@dataclass(frozen=True)
class FeaturedBundle:
    key: str
    title: str
    description: str
    category: str
    price_cents: int
    patterns: tuple[str, ...]


FEATURED: tuple[FeaturedBundle, ...] = (
    FeaturedBundle(
        "fastapi-starter",
        "FastAPI service starter",
        "A typed FastAPI service: CRUD routes, JSON errors, API keys, settings and logging.",
        "web",
        0,
        (
            "fastapi-service-template",
            "fastapi-crud-service",
            "fastapi-json-error-handlers",
            "fastapi-api-key-auth",
            "settings-from-environment",
            "structured-json-logging",
        ),
    ),
    FeaturedBundle(
        "data-pipelines",
        "Data pipelines kit",
        "Clean, aggregate and report on data: pandas cleaning, CSV streaming, SQL windows.",
        "data",
        0,
        (
            "pandas-cleaning-pipeline",
            "csv-streaming-aggregate",
            "sql-window-functions",
            "parameterised-notebook-report",
            "batched-iterator",
        ),
    ),
    FeaturedBundle(
        "ship-it",
        "Ship it: containers and CI",
        "From repository to running service: Dockerfile, compose with Postgres, CI, k8s.",
        "devops",
        1900,
        (
            "dockerfile-python-service",
            "docker-compose-app-postgres",
            "github-actions-python-ci",
            "kubernetes-deployment-service",
            "pre-commit-hooks",
        ),
    ),
    FeaturedBundle(
        "testing-essentials",
        "Testing essentials",
        "Fixtures against a real database, fakes behind protocols, and a CI that runs them.",
        "testing",
        0,
        ("pytest-database-fixtures", "repository-protocol-fake", "github-actions-python-ci"),
    ),
    FeaturedBundle(
        "architecture-decisions",
        "Architecture decision records",
        "Decisions worth copying: modular monolith, Postgres job queue, pgvector, versioning.",
        "architecture",
        4900,
        (
            "adr-modular-monolith-first",
            "adr-postgres-job-queue",
            "adr-pgvector-over-vector-database",
            "adr-api-versioning",
            "adr-append-only-event-log",
        ),
    ),
)


def load_featured_bundles(sqlalchemy_url: str) -> int:
    """Add missing featured bundles to the global catalogue; return how many were added."""
    engine = create_engine(sqlalchemy_url, poolclass=pool.NullPool)
    added = 0
    try:
        with Session(engine) as session:
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext('datazentr.bundles'))"))
            present = set(
                session.scalars(select(Bundle.seed_key).where(Bundle.seed_key.is_not(None)))
            )
            patterns = dict(
                session.execute(
                    select(Pattern.seed_key, Pattern.id).where(
                        Pattern.seed_key.is_not(None),
                        Pattern.visibility == "public",
                        Pattern.deleted_at.is_(None),
                    )
                ).all()
            )
            for featured in FEATURED:
                if featured.key in present:
                    continue
                included = [patterns[key] for key in featured.patterns if key in patterns]
                if not included:
                    log.warning("bundle %s: none of its patterns is in the library", featured.key)
                    continue
                bundle = Bundle(
                    seed_key=featured.key,
                    title=featured.title,
                    description=featured.description,
                    author=PLATFORM_AUTHOR,
                    category=featured.category,
                    price_cents=featured.price_cents,
                    featured=True,
                )
                session.add(bundle)
                session.flush()
                session.add_all(
                    BundlePattern(bundle_id=bundle.id, pattern_id=pattern_id, position=position)
                    for position, pattern_id in enumerate(included)
                )
                added += 1
            session.commit()
    finally:
        engine.dispose()
    if added:
        log.info("marketplace: added %d featured bundles", added)
    return added
