"""Pattern library: patterns (HNSW + full-text indexed), versions, uses, votes.

Revision ID: 0002_pattern_library
Revises: 0001_foundation
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0002_pattern_library"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The weighted full-text document of a pattern: title and tags weigh most, then the
# description, then the code. IMMUTABLE so a generated column can use it (the functions
# it calls only depend on their arguments for text and text[] input).
SEARCH_DOCUMENT_FUNCTION = """
CREATE FUNCTION pattern_search_document(
    title text, description text, tags text[], files jsonb
) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig,
                                 coalesce(array_to_string(tags, ' '), '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(
               (SELECT string_agg(coalesce(f ->> 'path', '') || ' '
                                  || left(coalesce(f ->> 'content', ''), 100000), ' ')
                  FROM jsonb_array_elements(files) AS f), '')), 'D')
$$
"""

KINDS = "'snippet', 'module', 'project_template', 'architecture_decision', 'deployment_config'"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.execute(SEARCH_DOCUMENT_FUNCTION)
    op.create_table(
        "patterns",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("seed_key", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(40)), server_default="{}", nullable=False),
        sa.Column("files", postgresql.JSONB(), nullable=False),
        sa.Column("test", postgresql.JSONB(), nullable=True),
        sa.Column("licence", sa.String(64), server_default="unspecified", nullable=False),
        sa.Column("author", sa.String(255), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("embedding", Vector(384), nullable=False),
        sa.Column("embedding_model", sa.String(100), nullable=False),
        sa.Column("usage_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("success_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failure_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed("pattern_search_document(title, description, tags, files)", persisted=True),
            nullable=False,
        ),
        *_timestamps(),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_patterns_kind"),
        sa.CheckConstraint(
            "visibility IN ('private', 'tenant', 'public')", name="ck_patterns_visibility"
        ),
        sa.CheckConstraint(
            "visibility <> 'public' OR tenant_id IS NULL",
            name="ck_patterns_public_patterns_are_global",
        ),
        sa.CheckConstraint(
            "usage_count >= 0 AND success_count >= 0 AND failure_count >= 0",
            name="ck_patterns_counts_not_negative",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_patterns_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_patterns"),
        sa.UniqueConstraint("seed_key", name="uq_patterns_seed_key"),
    )
    op.create_index("ix_patterns_tenant_id", "patterns", ["tenant_id"])
    op.create_index("ix_patterns_tags", "patterns", ["tags"], postgresql_using="gin")
    op.create_index(
        "ix_patterns_search_vector", "patterns", ["search_vector"], postgresql_using="gin"
    )
    op.create_index(
        "ix_patterns_embedding_hnsw",
        "patterns",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )

    op.create_table(
        "pattern_versions",
        sa.Column("pattern_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(40)), server_default="{}", nullable=False),
        sa.Column("files", postgresql.JSONB(), nullable=False),
        sa.Column("test", postgresql.JSONB(), nullable=True),
        sa.Column("licence", sa.String(64), nullable=False),
        sa.Column("edited_by", sa.String(255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["pattern_id"], ["patterns.id"], name="fk_pattern_versions_pattern_id_patterns"
        ),
        sa.PrimaryKeyConstraint("pattern_id", "version", name="pk_pattern_versions"),
    )

    op.create_table(
        "pattern_uses",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("pattern_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('passed', 'failed')", name="ck_pattern_uses_outcome"
        ),
        sa.ForeignKeyConstraint(
            ["pattern_id"], ["patterns.id"], name="fk_pattern_uses_pattern_id_patterns"
        ),
        sa.ForeignKeyConstraint(
            ["pattern_id", "version"],
            ["pattern_versions.pattern_id", "pattern_versions.version"],
            name="fk_pattern_uses_version_pattern_versions",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_pattern_uses_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pattern_uses"),
    )
    op.create_index("ix_pattern_uses_pattern_id", "pattern_uses", ["pattern_id"])

    op.create_table(
        "pattern_votes",
        sa.Column("pattern_id", sa.Uuid(), nullable=False),
        sa.Column("voter", sa.String(255), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("value IN (-1, 1)", name="ck_pattern_votes_value"),
        sa.ForeignKeyConstraint(
            ["pattern_id"], ["patterns.id"], name="fk_pattern_votes_pattern_id_patterns"
        ),
        sa.PrimaryKeyConstraint("pattern_id", "voter", name="pk_pattern_votes"),
    )


def downgrade() -> None:
    op.drop_table("pattern_votes")
    op.drop_table("pattern_uses")
    op.drop_table("pattern_versions")
    op.drop_table("patterns")
    op.execute("DROP FUNCTION pattern_search_document(text, text, text[], jsonb)")
