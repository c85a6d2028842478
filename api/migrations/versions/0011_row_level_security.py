"""Row-level security on every table that holds an organisation's or a person's data.

Tables with ``tenant_id`` show the caller's organisation and the shared rows; rows that
belong to a parent (versions, votes, a project's events, a bundle's patterns and ratings,
a conversation's messages) are visible exactly when their parent is; a person's own
ledgers and conversations only to that person. Platform-wide work (platform admins, the
hub's services, the worker's housekeeping) says so explicitly.

Revision ID: 0011_row_level_security
Revises: 0010_code_replay
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from api.core.row_security import (
    DROP_SCOPE_FUNCTIONS,
    SCOPE_FUNCTIONS,
    own_rows,
    protect,
    rows_of_visible,
    tenant_rows,
    unprotect,
)

revision: str = "0011_row_level_security"
down_revision: str | None = "0010_code_replay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICIES = {
    # A person reads their own profile before the transaction knows their organisation.
    "user_profiles": tenant_rows("hub_name = (SELECT datazentr_user())"),
    "events": tenant_rows(),
    "patterns": tenant_rows(),
    "pattern_uses": tenant_rows(),
    "projects": tenant_rows(),
    "marketplace_bundles": tenant_rows(),
    "marketplace_installs": tenant_rows(),
    "pattern_versions": rows_of_visible("patterns", "pattern_versions.pattern_id"),
    "pattern_votes": rows_of_visible("patterns", "pattern_votes.pattern_id"),
    "project_events": rows_of_visible("projects", "project_events.project_id"),
    "marketplace_bundle_patterns": rows_of_visible(
        "marketplace_bundles", "marketplace_bundle_patterns.bundle_id"
    ),
    "marketplace_ratings": rows_of_visible("marketplace_bundles", "marketplace_ratings.bundle_id"),
    "assistant_conversations": own_rows("owner"),
    "assistant_messages": rows_of_visible(
        "assistant_conversations", "assistant_messages.conversation_id"
    ),
    "assistant_usage": own_rows("hub_name"),
    "server_sessions": own_rows("hub_name"),
}


def upgrade() -> None:
    # Installs are each their installer's organisation's rows: a bundle counts its own.
    op.add_column(
        "marketplace_bundles",
        sa.Column("downloads", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE marketplace_bundles b SET downloads = "
        "(SELECT count(*) FROM marketplace_installs i WHERE i.bundle_id = b.id)"
    )
    op.execute(SCOPE_FUNCTIONS)
    for table, condition in POLICIES.items():
        protect(table, condition)


def downgrade() -> None:
    for table in POLICIES:
        unprotect(table)
    op.execute(DROP_SCOPE_FUNCTIONS)
    op.drop_column("marketplace_bundles", "downloads")
