"""The pattern library: reusable code, its history, its uses and people's votes."""

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

EMBEDDING_DIMENSION = 384
KINDS = ("snippet", "module", "project_template", "architecture_decision", "deployment_config")
VISIBILITIES = ("private", "tenant", "public")
OUTCOMES = ("passed", "failed")

# The full-text document of a pattern is computed by the database (an IMMUTABLE SQL
# function created by migration 0002), so it can never drift from the row.
SEARCH_DOCUMENT = "pattern_search_document(title, description, tags, files)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Pattern(Timestamped, Base):
    """One pattern at its current version; ``pattern_versions`` keeps every version.

    Scope and visibility: ``tenant_id`` NULL with visibility ``public`` is the global
    library everyone reads. A tenant's pattern is seen by its members (``tenant``) or by
    its author only (``private``); never by another tenant. ``deleted_at`` marks a soft
    delete: the row and its history stay, every read path skips it.
    """

    __tablename__ = "patterns"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("visibility", VISIBILITIES), name="visibility"),
        CheckConstraint(
            "visibility <> 'public' OR tenant_id IS NULL", name="public_patterns_are_global"
        ),
        CheckConstraint(
            "usage_count >= 0 AND success_count >= 0 AND failure_count >= 0",
            name="counts_not_negative",
        ),
        Index("ix_patterns_tenant_id", "tenant_id"),
        Index("ix_patterns_tags", "tags", postgresql_using="gin"),
        Index("ix_patterns_search_vector", "search_vector", postgresql_using="gin"),
        Index(
            "ix_patterns_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    seed_key: Mapped[str | None] = mapped_column(
        String(100), unique=True, doc="Stable name of a pattern from the seed library."
    )
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, doc="[{path, content}, ...]")
    test: Mapped[dict[str, Any] | None] = mapped_column(JSONB, doc="{path, content} or NULL")
    licence: Mapped[str] = mapped_column(String(64), server_default="unspecified")
    author: Mapped[str | None] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    visibility: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    embedding: Mapped[list[float]] = mapped_column(Vector(EMBEDDING_DIMENSION))
    embedding_model: Mapped[str] = mapped_column(String(100))
    usage_count: Mapped[int] = mapped_column(Integer, server_default="0")
    success_count: Mapped[int] = mapped_column(Integer, server_default="0")
    failure_count: Mapped[int] = mapped_column(Integer, server_default="0")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True), deferred=True
    )


class PatternVersion(Base):
    """A pattern's content as it was at one version. Written once, never changed."""

    __tablename__ = "pattern_versions"

    pattern_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patterns.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    test: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    licence: Mapped[str] = mapped_column(String(64))
    edited_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PatternUse(Base):
    """One application of a pattern; its quality-gate outcome is reported once."""

    __tablename__ = "pattern_uses"
    __table_args__ = (
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        ForeignKeyConstraint(
            ["pattern_id", "version"],
            ["pattern_versions.pattern_id", "pattern_versions.version"],
            name="fk_pattern_uses_version_pattern_versions",
        ),
        Index("ix_pattern_uses_pattern_id", "pattern_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    pattern_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patterns.id"))
    version: Mapped[int] = mapped_column(Integer)
    user_name: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PatternVote(Base):
    """One person's thumbs up (+1) or down (-1) on a pattern; a new vote replaces the old."""

    __tablename__ = "pattern_votes"
    __table_args__ = (CheckConstraint("value IN (-1, 1)", name="value"),)

    pattern_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patterns.id"), primary_key=True)
    voter: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
