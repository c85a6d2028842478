"""JSON Lines import (atomic) and export of patterns.

One pattern per line. Export writes every field, counts and the embedding; import reads
the content fields, ``visibility`` and optionally ``embedding`` + ``embedding_model``
(used when the model matches this library's, else the text is embedded again). Fields
that only describe an exported row (id, author, counts, times) are ignored: imported
patterns belong to the importer, and counts are earned here, not carried in.

Every line is checked before anything is written; one bad line means nothing is
imported and the answer lists the bad lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field, ValidationError, field_validator
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.db import Database
from api.core.tenancy import Scope
from api.errors import ApiError, InvalidInput, PayloadTooLarge
from api.models import Pattern
from api.models.pattern import EMBEDDING_DIMENSION
from api.patterns.access import Viewer
from api.patterns.embedder import Embedder
from api.patterns.library import (
    CONTENT_FIELDS,
    ListScope,
    content_fields,
    embed_async,
    filter_conditions,
    new_pattern,
    pattern_event,
    resolve_visibility,
    scope_of,
    text_for,
)
from api.schemas.patterns import PatternIn

MAX_IMPORT_LINES = 5_000
MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_REPORTED_ERRORS = 20
EXPORT_ONLY_FIELDS = frozenset(
    {
        "id",
        "seed_key",
        "scope",
        "version",
        "author",
        "usage_count",
        "success_count",
        "failure_count",
        "created_at",
        "updated_at",
    }
)


class ImportLine(PatternIn):
    embedding: list[float] | None = Field(
        default=None, description=f"{EMBEDDING_DIMENSION} numbers, or omitted to embed here."
    )
    embedding_model: str | None = Field(default=None, max_length=100)

    @field_validator("embedding")
    @classmethod
    def _dimension(cls, vector: list[float] | None) -> list[float] | None:
        if vector is None:
            return None
        if len(vector) != EMBEDDING_DIMENSION:
            raise ValueError(
                f"has {len(vector)} numbers; the pattern library stores {EMBEDDING_DIMENSION}"
            )
        if not all(math.isfinite(x) for x in vector):
            raise ValueError("holds a number that is not finite")
        return vector


def _line_error(number: int, message: str) -> dict[str, str]:
    return {"field": f"line {number}", "message": message}


def parse_lines(body: bytes) -> list[tuple[int, ImportLine]]:
    """Validate every line; raise ``InvalidInput`` listing the bad ones (nothing written)."""
    if len(body) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"An import holds at most {MAX_IMPORT_BYTES // 2**20} MiB.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The body is not UTF-8 text (byte {exc.start}).") from exc
    parsed: list[tuple[int, ImportLine]] = []
    errors: list[dict[str, str]] = []
    bad_lines = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        problem = _parse_line(raw)
        if isinstance(problem, ImportLine):
            parsed.append((number, problem))
        else:
            bad_lines += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.extend(_line_error(number, message) for message in problem)
    if bad_lines:
        raise InvalidInput(
            f"Nothing was imported: {bad_lines} line{'s' if bad_lines != 1 else ''} "
            f"cannot be used ({errors[0]['field']}: {errors[0]['message']}).",
            fields=errors,
        )
    if not parsed:
        raise InvalidInput("The body holds no patterns: send one JSON object per line.")
    if len(parsed) > MAX_IMPORT_LINES:
        raise PayloadTooLarge(f"An import holds at most {MAX_IMPORT_LINES} patterns.")
    return parsed


def _parse_line(raw: str) -> ImportLine | list[str]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return [f"not valid JSON ({exc.msg} at character {exc.pos + 1})"]
    if not isinstance(data, dict):
        return ["must be a JSON object (one pattern per line)"]
    for name in EXPORT_ONLY_FIELDS & data.keys():
        del data[name]
    try:
        return ImportLine.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"]) or "line"
            message = str(error["msg"]).removeprefix("Value error, ")
            messages.append(f"{location}: {message}")
        return messages


async def import_patterns(
    session: AsyncSession,
    embedder: Embedder,
    viewer: Viewer,
    body: bytes,
    *,
    visibility: str | None = None,
) -> tuple[list[Pattern], int]:
    """Import every line or none; ``visibility`` overrides the lines' own."""
    lines = parse_lines(body)
    owners: list[tuple[str, Any]] = []
    errors: list[dict[str, str]] = []
    for number, line in lines:
        try:
            owners.append(resolve_visibility(viewer, visibility or line.visibility))
        except ApiError as exc:
            errors.append(_line_error(number, exc.message))
    if errors:
        raise InvalidInput(
            f"Nothing was imported: {errors[0]['field']}: {errors[0]['message']}",
            fields=errors[:MAX_REPORTED_ERRORS],
        )
    fields = [content_fields(line) for _, line in lines]
    missing = [
        i
        for i, (_, line) in enumerate(lines)
        if line.embedding is None or line.embedding_model != embedder.model_id
    ]
    vectors: dict[int, list[float]] = {}
    if missing:
        computed = await embed_async(embedder, [text_for(fields[i]) for i in missing])
        vectors = {i: computed[row].tolist() for row, i in enumerate(missing)}
    patterns = []
    history = []
    for i, (_, line) in enumerate(lines):
        visibility, tenant_id = owners[i]
        pattern, first = new_pattern(
            fields[i],
            embedding=vectors.get(i) or line.embedding or [],
            embedding_model=embedder.model_id,
            author=viewer.name,
            tenant_id=tenant_id,
            visibility=visibility,
        )
        patterns.append(pattern)
        history.append(first)
    session.add_all(patterns)
    await session.flush()
    session.add_all(history)
    for pattern in patterns:
        pattern_event(session, pattern, "pattern.created", viewer.name, imported=True)
    await session.commit()
    return patterns, len(missing)


def export_record(pattern: Pattern, *, include_embedding: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": str(pattern.id),
        "seed_key": pattern.seed_key,
        **{name: getattr(pattern, name) for name in CONTENT_FIELDS},
        "visibility": pattern.visibility,
        "scope": scope_of(pattern),
        "version": pattern.version,
        "author": pattern.author,
        "usage_count": pattern.usage_count,
        "success_count": pattern.success_count,
        "failure_count": pattern.failure_count,
        "created_at": pattern.created_at.isoformat(),
        "updated_at": pattern.updated_at.isoformat(),
    }
    if include_embedding:
        record["embedding_model"] = pattern.embedding_model
        record["embedding"] = [round(float(x), 7) for x in pattern.embedding]
    return record


def export_lines(
    database: Database,
    viewer: Viewer,
    *,
    scope: ListScope,
    include_embeddings: bool,
    batch: int = 500,
) -> AsyncIterator[bytes]:
    """The visible patterns as JSON Lines; bad arguments fail here, before streaming."""
    conditions = filter_conditions(viewer, kinds=None, languages=None, tags=None, scope=scope)
    reader = Scope(user=viewer.name, tenant_id=viewer.tenant_id)
    return _stream(database, reader, conditions, include_embeddings=include_embeddings, batch=batch)


async def _stream(
    database: Database,
    reader: Scope,
    conditions: list[ColumnElement[bool]],
    *,
    include_embeddings: bool,
    batch: int,
) -> AsyncIterator[bytes]:
    # A session of its own: the response outlives the request's dependencies.
    async with database.scoped(reader) as session:
        result = await session.stream_scalars(
            select(Pattern)
            .where(*conditions)
            .order_by(Pattern.created_at, Pattern.id)
            .execution_options(yield_per=batch)
        )
        async for pattern in result:
            record = export_record(pattern, include_embedding=include_embeddings)
            yield (json.dumps(record, ensure_ascii=False) + "\n").encode()
