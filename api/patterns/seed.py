"""The seed library: curated patterns shipped with the platform, loaded on first run.

Each pattern is one TOML file in ``seed_library/`` (its name is the pattern's
``seed_key``) with the content fields of the API, its files and, for code, a small
test. ``load_seed_library`` adds the seed patterns the database does not have yet
(none on first run; new ones after an upgrade) to the global library, embedding them
in one batch, and never touches a seed pattern that is already there (an admin may
have edited or deleted it). It also re-embeds patterns whose stored vectors came from
another embedding model than the one configured now.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, pool, select, text
from sqlalchemy.orm import Session

from api.core.config import Settings, get_settings
from api.models import Event, Pattern
from api.patterns.embedder import Embedder, get_embedder
from api.patterns.library import CONTENT_FIELDS, content_fields, new_pattern, text_for
from api.schemas.patterns import PatternContent

log = logging.getLogger(__name__)

SEED_DIR = Path(__file__).resolve().parent / "seed_library"
SEED_LICENCE = "CC0-1.0"
REEMBED_BATCH = 256


@dataclass(frozen=True)
class SeedPattern:
    key: str
    fields: dict[str, Any]

    @property
    def test(self) -> dict[str, str] | None:
        test: dict[str, str] | None = self.fields.get("test")
        return test


def read_seed_library(directory: Path = SEED_DIR) -> list[SeedPattern]:
    """Every seed pattern, validated like an API request, in file name order."""
    seeds = []
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data.setdefault("licence", SEED_LICENCE)
        try:
            content = PatternContent.model_validate(data)
        except ValueError as exc:
            raise ValueError(f"seed pattern {path.name} is not valid: {exc}") from exc
        seeds.append(SeedPattern(key=path.stem, fields=content_fields(content)))
    return seeds


def load_seed_library(
    sqlalchemy_url: str,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
) -> int:
    """Add missing seed patterns to the global library; return how many were added."""
    seeds = read_seed_library()
    engine = create_engine(sqlalchemy_url, poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            # One loader at a time (two processes starting on one database).
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext('datazentr.seed'))"))
            present = set(
                session.scalars(select(Pattern.seed_key).where(Pattern.seed_key.is_not(None)))
            )
            missing = [seed for seed in seeds if seed.key not in present]
            if missing:
                embedder = embedder or get_embedder(settings or get_settings())
                _add(session, missing, embedder)
            embedder = embedder or get_embedder(settings or get_settings())
            _reembed_outdated(session, embedder)
            session.commit()
    finally:
        engine.dispose()
    if missing:
        log.info("pattern library: added %d seed patterns", len(missing))
    return len(missing)


def _add(session: Session, seeds: list[SeedPattern], embedder: Embedder) -> None:
    vectors = embedder.embed([text_for(seed.fields) for seed in seeds])
    for seed, vector in zip(seeds, vectors, strict=True):
        pattern, first = new_pattern(
            {name: seed.fields[name] for name in CONTENT_FIELDS},
            embedding=vector.tolist(),
            embedding_model=embedder.model_id,
            author=None,
            tenant_id=None,
            visibility="public",
            seed_key=seed.key,
        )
        session.add(pattern)
        session.flush()
        session.add(first)
        session.add(
            Event(
                stream=f"pattern:{pattern.id}",
                type="pattern.created",
                actor=None,
                payload={"version": 1, "kind": pattern.kind, "seed_key": seed.key},
            )
        )


def _reembed_outdated(session: Session, embedder: Embedder) -> None:
    """Vectors of different models are not comparable: bring old ones to the current model."""
    while True:
        batch = list(
            session.scalars(
                select(Pattern)
                .where(Pattern.embedding_model != embedder.model_id)
                .limit(REEMBED_BATCH)
            )
        )
        if not batch:
            return
        fields = [{name: getattr(p, name) for name in CONTENT_FIELDS} for p in batch]
        vectors = embedder.embed([text_for(f) for f in fields])
        for pattern, vector in zip(batch, vectors, strict=True):
            pattern.embedding = vector.tolist()
            pattern.embedding_model = embedder.model_id
        session.flush()
        log.info("pattern library: re-embedded %d patterns with %s", len(batch), embedder.model_id)
