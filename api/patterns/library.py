"""Creating, reading, editing (new versions), deleting (soft) and contributing patterns.

Every change appends to the event log in the same transaction (stream ``pattern:<id>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import anyio
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.errors import Forbidden, InvalidInput, NotFound, ServiceUnavailable
from api.events import append_event
from api.models import Pattern, PatternVersion
from api.patterns.access import Viewer, can_edit, visible_to
from api.patterns.content import embedding_text
from api.patterns.embedder import Embedder, EmbedderError, Vectors
from api.profiles import get_or_create_profile
from api.schemas.patterns import PatternContent, PatternIn, PatternUpdate

ListScope = Literal["all", "global", "tenant", "mine"]
CONTENT_FIELDS = ("kind", "title", "description", "language", "tags", "files", "test", "licence")
EMBEDDED_FIELDS = ("kind", "title", "description", "language", "tags", "files")


async def viewer_for(session: AsyncSession, user: HubUser) -> Viewer:
    profile = await get_or_create_profile(session, user)
    return Viewer(name=user.name, tenant_id=profile.tenant_id, admin=user.admin)


def scope_of(pattern: Pattern) -> str:
    if pattern.tenant_id is not None:
        return "tenant"
    return "global" if pattern.visibility == "public" else "personal"


async def embed_async(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """Embeddings off the event loop: the model is CPU-bound, an endpoint is blocking I/O."""
    try:
        return await anyio.to_thread.run_sync(embedder.embed, list(texts))
    except EmbedderError as exc:
        raise ServiceUnavailable(f"The embedding model is unavailable: {exc}") from exc


def text_for(fields: dict[str, Any]) -> str:
    return embedding_text(
        title=fields["title"],
        description=fields["description"],
        tags=fields["tags"],
        language=fields["language"],
        kind=fields["kind"],
        files=fields["files"],
    )


def content_fields(content: PatternContent) -> dict[str, Any]:
    return content.model_dump(include=set(CONTENT_FIELDS))


def new_pattern(
    fields: dict[str, Any],
    *,
    embedding: Sequence[float],
    embedding_model: str,
    author: str | None,
    tenant_id: uuid.UUID | None,
    visibility: str,
    seed_key: str | None = None,
) -> tuple[Pattern, PatternVersion]:
    """A new pattern at version 1 and its first history row (not yet added to a session)."""
    pattern = Pattern(
        id=uuid.uuid4(),
        seed_key=seed_key,
        author=author,
        tenant_id=tenant_id,
        visibility=visibility,
        version=1,
        embedding=list(embedding),
        embedding_model=embedding_model,
        usage_count=0,
        success_count=0,
        failure_count=0,
        **{name: fields[name] for name in CONTENT_FIELDS},
    )
    return pattern, snapshot(pattern, author)


def snapshot(pattern: Pattern, edited_by: str | None) -> PatternVersion:
    return PatternVersion(
        pattern_id=pattern.id,
        version=pattern.version,
        edited_by=edited_by,
        **{name: getattr(pattern, name) for name in CONTENT_FIELDS},
    )


def resolve_visibility(viewer: Viewer, requested: str | None) -> tuple[str, uuid.UUID | None]:
    """The visibility and owning tenant of a pattern this viewer creates."""
    if requested is None:
        requested = "tenant" if viewer.tenant_id is not None else "private"
    if requested == "public":
        if not viewer.admin:
            raise Forbidden(
                "Only admins add to the global library directly; share a pattern with "
                "everyone through POST /patterns/{id}/contribute."
            )
        return "public", None
    if requested == "tenant" and viewer.tenant_id is None:
        raise InvalidInput(
            "You belong to no tenant, so 'tenant' visibility has no audience: use 'private'.",
            fields=[{"field": "visibility", "message": "you belong to no tenant"}],
        )
    return requested, viewer.tenant_id


def pattern_event(
    session: AsyncSession, pattern: Pattern, type: str, actor: str | None, **payload: Any
) -> None:
    append_event(
        session,
        stream=f"pattern:{pattern.id}",
        type=type,
        actor=actor,
        payload={"version": pattern.version, **payload},
        tenant_id=pattern.tenant_id,
    )


async def create_pattern(
    session: AsyncSession, embedder: Embedder, viewer: Viewer, content: PatternIn
) -> Pattern:
    visibility, tenant_id = resolve_visibility(viewer, content.visibility)
    fields = content_fields(content)
    [vector] = await embed_async(embedder, [text_for(fields)])
    pattern, first = new_pattern(
        fields,
        embedding=vector.tolist(),
        embedding_model=embedder.model_id,
        author=viewer.name,
        tenant_id=tenant_id,
        visibility=visibility,
    )
    session.add(pattern)
    await session.flush()
    session.add(first)
    pattern_event(session, pattern, "pattern.created", viewer.name, kind=pattern.kind)
    await session.commit()
    return pattern


async def get_visible(
    session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID, *, for_update: bool = False
) -> Pattern:
    statement = select(Pattern).where(Pattern.id == pattern_id, visible_to(viewer))
    if for_update:
        statement = statement.with_for_update()
    pattern = await session.scalar(statement)
    if pattern is None:
        # The same answer whether it never existed, was deleted or is someone else's.
        raise NotFound(f"No pattern {pattern_id} that you can see.")
    return pattern


async def get_editable(session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID) -> Pattern:
    pattern = await get_visible(session, viewer, pattern_id, for_update=True)
    if not can_edit(viewer, pattern):
        raise Forbidden(
            "Only the pattern's author (or an admin) may change it; the global library "
            "is changed by admins."
        )
    return pattern


def filter_conditions(
    viewer: Viewer,
    *,
    kinds: Sequence[str] | None,
    languages: Sequence[str] | None,
    tags: Sequence[str] | None,
    scope: ListScope = "all",
) -> list[ColumnElement[bool]]:
    conditions = [visible_to(viewer)]
    if kinds:
        conditions.append(Pattern.kind.in_(list(kinds)))
    if languages:
        conditions.append(Pattern.language.in_(list(languages)))
    if tags:
        conditions.append(Pattern.tags.contains(list(tags)))
    if scope == "global":
        conditions.append(Pattern.tenant_id.is_(None))
        conditions.append(Pattern.visibility == "public")
    elif scope == "tenant":
        if viewer.tenant_id is None:
            raise InvalidInput("You belong to no tenant: scope 'tenant' lists nothing.")
        conditions.append(Pattern.tenant_id == viewer.tenant_id)
    elif scope == "mine":
        conditions.append(Pattern.author == viewer.name)
    return conditions


async def list_patterns(
    session: AsyncSession,
    viewer: Viewer,
    *,
    kinds: Sequence[str] | None,
    languages: Sequence[str] | None,
    tags: Sequence[str] | None,
    scope: ListScope,
    limit: int,
    offset: int,
) -> tuple[list[Pattern], int]:
    conditions = filter_conditions(viewer, kinds=kinds, languages=languages, tags=tags, scope=scope)
    total = await session.scalar(select(func.count()).select_from(Pattern).where(*conditions))
    rows = await session.scalars(
        select(Pattern)
        .where(*conditions)
        .order_by(Pattern.created_at.desc(), Pattern.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def update_pattern(
    session: AsyncSession,
    embedder: Embedder,
    viewer: Viewer,
    pattern_id: uuid.UUID,
    changes: PatternUpdate,
) -> Pattern:
    pattern = await get_editable(session, viewer, pattern_id)
    given = changes.model_dump(exclude_unset=True)
    changed = {
        name: value
        for name, value in given.items()
        if name in CONTENT_FIELDS and value != getattr(pattern, name)
    }
    visibility = given.get("visibility")
    if visibility is not None and visibility != pattern.visibility:
        if visibility == "public" or pattern.visibility == "public":
            raise Forbidden(
                "The global library is not a visibility you switch to or from: contribute "
                "a copy with POST /patterns/{id}/contribute."
            )
        if visibility == "tenant" and pattern.tenant_id is None:
            raise InvalidInput("This pattern belongs to no tenant: 'tenant' has no audience.")
    elif visibility is not None:
        visibility = None
    if not changed and visibility is None:
        return pattern
    if changed:
        merged = {name: changed.get(name, getattr(pattern, name)) for name in CONTENT_FIELDS}
        PatternContent.model_validate(merged)  # the combination must still be valid
        if any(name in changed for name in EMBEDDED_FIELDS):
            [vector] = await embed_async(embedder, [text_for(merged)])
            pattern.embedding = vector.tolist()
            pattern.embedding_model = embedder.model_id
        for name, value in changed.items():
            setattr(pattern, name, value)
        pattern.version += 1
        session.add(snapshot(pattern, viewer.name))
    if visibility is not None:
        pattern.visibility = visibility
    pattern.updated_at = datetime.now(UTC)
    pattern_event(
        session,
        pattern,
        "pattern.updated",
        viewer.name,
        fields=sorted(changed) + (["visibility"] if visibility is not None else []),
    )
    await session.commit()
    await session.refresh(pattern)
    return pattern


async def delete_pattern(session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID) -> None:
    pattern = await get_editable(session, viewer, pattern_id)
    pattern.deleted_at = datetime.now(UTC)
    pattern_event(session, pattern, "pattern.deleted", viewer.name)
    await session.commit()


async def list_versions(
    session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID
) -> list[PatternVersion]:
    await get_visible(session, viewer, pattern_id)
    rows = await session.scalars(
        select(PatternVersion)
        .where(PatternVersion.pattern_id == pattern_id)
        .order_by(PatternVersion.version.desc())
    )
    return list(rows)


async def contribute(session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID) -> Pattern:
    """Copy a pattern into the global library without its author or tenant."""
    source = await get_visible(session, viewer, pattern_id)
    if source.visibility == "public" and source.tenant_id is None:
        raise InvalidInput("This pattern is already in the global library.")
    if source.author != viewer.name and not viewer.admin:
        raise Forbidden("Only the pattern's author may contribute it to the global library.")
    fields = {name: getattr(source, name) for name in CONTENT_FIELDS}
    copy, first = new_pattern(
        fields,
        embedding=list(source.embedding),
        embedding_model=source.embedding_model,
        author=None,
        tenant_id=None,
        visibility="public",
    )
    session.add(copy)
    await session.flush()
    session.add(first)
    # The source's own stream (visible to its tenant) records where the copy went; the
    # copy's stream says nothing about where it came from.
    pattern_event(session, source, "pattern.contributed", viewer.name, copy_id=str(copy.id))
    pattern_event(session, copy, "pattern.created", None, kind=copy.kind, anonymous=True)
    await session.commit()
    return copy
