"""Who may see and change which pattern. Every read path filters with ``visible_to``.

- ``public`` patterns are the global library (no tenant): everyone reads them.
- ``tenant`` patterns: members of the owning tenant.
- ``private`` patterns: their author, while a member of the tenant that owns them
  (or, for people without a tenant, the author alone).

Soft-deleted patterns are invisible to everyone. Changing a pattern: its author (in the
same tenant) or a platform admin; the global library only through admins, the seed
loader and anonymous contributions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_

from api.models import Pattern


@dataclass(frozen=True)
class Viewer:
    name: str
    tenant_id: uuid.UUID | None
    admin: bool = False


def visible_to(viewer: Viewer) -> ColumnElement[bool]:
    tenant_match: ColumnElement[bool]
    if viewer.tenant_id is None:
        tenant_match = Pattern.tenant_id.is_(None)
        tenant_visible: ColumnElement[bool] = false()
    else:
        tenant_match = Pattern.tenant_id == viewer.tenant_id
        tenant_visible = and_(Pattern.visibility == "tenant", tenant_match)
    return and_(
        Pattern.deleted_at.is_(None),
        or_(
            Pattern.visibility == "public",
            tenant_visible,
            and_(Pattern.visibility == "private", Pattern.author == viewer.name, tenant_match),
        ),
    )


def can_read(viewer: Viewer, pattern: Pattern) -> bool:
    if pattern.deleted_at is not None:
        return False
    if pattern.visibility == "public":
        return True
    same_tenant = pattern.tenant_id == viewer.tenant_id
    if pattern.visibility == "tenant":
        return viewer.tenant_id is not None and same_tenant
    return pattern.author == viewer.name and same_tenant


def can_edit(viewer: Viewer, pattern: Pattern) -> bool:
    if viewer.admin:
        return can_read(viewer, pattern)
    if pattern.tenant_id is None and pattern.visibility == "public":
        return False  # the global library is curated
    return (
        can_read(viewer, pattern)
        and pattern.author == viewer.name
        and pattern.tenant_id == viewer.tenant_id
    )
