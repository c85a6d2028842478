"""The pattern library: search, read, write, apply, feedback, import and export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response, StreamingResponse

from api.billing import notices
from api.deps import CurrentUser, DatabaseDep, SessionDep, SettingsDep
from api.errors import InvalidInput, NotFound, PayloadTooLarge
from api.models import Pattern
from api.patterns import feedback, library
from api.patterns.content import Language
from api.patterns.embedder import Embedder, get_embedder
from api.patterns.jsonl import MAX_IMPORT_BYTES, export_lines, import_patterns
from api.patterns.ranking import wilson_lower_bound
from api.patterns.search import search_patterns
from api.schemas.patterns import (
    ApplyOut,
    Explanation,
    FeedbackIn,
    FeedbackOut,
    ImportOut,
    Kind,
    PatternIn,
    PatternOut,
    PatternPage,
    PatternSummary,
    PatternUpdate,
    SearchIn,
    SearchOut,
    SearchResult,
    Tag,
    VersionOut,
    Visibility,
)

router = APIRouter(prefix="/patterns", tags=["patterns"])

SUMMARY_FIELDS = tuple(name for name in PatternSummary.model_fields if name != "scope")
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such pattern among those you can see."}
}


def get_pattern_embedder(settings: SettingsDep) -> Embedder:
    return get_embedder(settings)


EmbedderDep = Annotated[Embedder, Depends(get_pattern_embedder)]


def _fields(pattern: Pattern, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(pattern, name) for name in names} | {"scope": library.scope_of(pattern)}


def summary(pattern: Pattern) -> PatternSummary:
    return PatternSummary.model_validate(_fields(pattern, SUMMARY_FIELDS))


def detail(pattern: Pattern) -> PatternOut:
    return PatternOut.model_validate(_fields(pattern, (*SUMMARY_FIELDS, "files", "test")))


@router.get("", response_model=PatternPage, summary="List the patterns you can see")
async def list_patterns(
    user: CurrentUser,
    session: SessionDep,
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds.")] = None,
    language: Annotated[list[Language] | None, Query(description="Only these.")] = None,
    tag: Annotated[list[Tag] | None, Query(description="Only with all these tags.")] = None,
    scope: Annotated[
        library.ListScope,
        Query(description="all; global library; your tenant's; mine (you are the author)."),
    ] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PatternPage:
    viewer = await library.viewer_for(session, user)
    rows, total = await library.list_patterns(
        session,
        viewer,
        kinds=kind,
        languages=language,
        tags=tag,
        scope=scope,
        limit=limit,
        offset=offset,
    )
    following = offset + len(rows)
    return PatternPage(
        items=[summary(p) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
        next_offset=following if following < total else None,
    )


@router.post(
    "",
    response_model=PatternOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a pattern (to your tenant, or private)",
)
async def create_pattern(
    body: PatternIn, user: CurrentUser, session: SessionDep, embedder: EmbedderDep
) -> PatternOut:
    viewer = await library.viewer_for(session, user)
    return detail(await library.create_pattern(session, embedder, viewer, body))


@router.post(
    "/search",
    response_model=SearchOut,
    summary="Search by meaning and keywords; results ranked and explained",
)
async def search(
    body: SearchIn, user: CurrentUser, session: SessionDep, embedder: EmbedderDep
) -> SearchOut:
    viewer = await library.viewer_for(session, user)
    found = await search_patterns(
        session,
        embedder,
        viewer,
        body.query,
        kinds=body.kinds,
        languages=body.languages,
        tags=body.tags,
        limit=body.limit,
    )
    results = []
    for hit in found.hits:
        c = hit.ranked.candidate
        trials = c.successes + c.failures
        results.append(
            SearchResult(
                rank=hit.rank,
                pattern=summary(hit.pattern),
                explanation=Explanation(
                    summary=hit.ranked.summary(),
                    score=round(hit.ranked.score, 6),
                    relevance=round(hit.ranked.relevance, 6),
                    similarity=None if c.similarity is None else round(c.similarity, 6),
                    semantic_rank=c.semantic_rank,
                    keyword_rank=c.keyword_rank,
                    keyword_score=None if c.keyword_score is None else round(c.keyword_score, 6),
                    uses=c.uses,
                    successes=c.successes,
                    failures=c.failures,
                    success_rate=round(c.successes / trials, 6) if trials else None,
                    wilson_lower_bound=round(hit.ranked.wilson, 6),
                    evidence=round(hit.ranked.evidence, 6),
                ),
            )
        )
    return SearchOut(
        query=body.query,
        results=results,
        embedding_model=found.embedding_model,
        took_ms=round(found.timings_ms["total"], 2),
    )


@router.get(
    "/export",
    summary="Export the patterns you can see as JSON Lines",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One per line."}},
)
async def export(
    user: CurrentUser,
    session: SessionDep,
    database: DatabaseDep,
    scope: Annotated[library.ListScope, Query()] = "all",
    embeddings: Annotated[bool, Query(description="Include the stored vectors.")] = True,
) -> StreamingResponse:
    viewer = await library.viewer_for(session, user)
    lines = export_lines(database, viewer, scope=scope, include_embeddings=embeddings)
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="patterns.jsonl"'},
    )


@router.post(
    "/import",
    response_model=ImportOut,
    status_code=status.HTTP_201_CREATED,
    summary="Import JSON Lines (all or nothing)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "example": '{"kind": "snippet", "title": "...", "description": "...", '
                    '"language": "python", "files": [{"path": "a.py", "content": "..."}]}\n',
                }
            },
        }
    },
)
async def import_jsonl(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    embedder: EmbedderDep,
    visibility: Annotated[
        Visibility | None,
        Query(
            description="For every imported pattern, instead of each line's own (an "
            "export of the global library says 'public', which only admins may import)."
        ),
    ] = None,
) -> ImportOut:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"An import holds at most {MAX_IMPORT_BYTES // 2**20} MiB.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"An import holds at most {MAX_IMPORT_BYTES // 2**20} MiB.")
    if not body.strip():
        raise InvalidInput("The body is empty: send one JSON object per line.")
    viewer = await library.viewer_for(session, user)
    patterns, embedded = await import_patterns(
        session, embedder, viewer, bytes(body), visibility=visibility
    )
    return ImportOut(imported=len(patterns), ids=[p.id for p in patterns], embedded=embedded)


@router.get("/{pattern_id}", response_model=PatternOut, responses=NOT_FOUND)
async def read_pattern(pattern_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PatternOut:
    viewer = await library.viewer_for(session, user)
    return detail(await library.get_visible(session, viewer, pattern_id))


@router.patch(
    "/{pattern_id}",
    response_model=PatternOut,
    summary="Edit a pattern (content changes make a new version)",
    responses=NOT_FOUND,
)
async def update_pattern(
    pattern_id: uuid.UUID,
    body: PatternUpdate,
    user: CurrentUser,
    session: SessionDep,
    embedder: EmbedderDep,
) -> PatternOut:
    viewer = await library.viewer_for(session, user)
    return detail(await library.update_pattern(session, embedder, viewer, pattern_id, body))


@router.delete(
    "/{pattern_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a pattern (soft: history and events stay)",
    responses=NOT_FOUND,
)
async def delete_pattern(pattern_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    viewer = await library.viewer_for(session, user)
    await library.delete_pattern(session, viewer, pattern_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{pattern_id}/versions",
    response_model=list[VersionOut],
    summary="Every version, newest first",
    responses=NOT_FOUND,
)
async def list_versions(
    pattern_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[VersionOut]:
    viewer = await library.viewer_for(session, user)
    rows = await library.list_versions(session, viewer, pattern_id)
    return [VersionOut.model_validate(v) for v in rows]


@router.get("/{pattern_id}/versions/{version}", response_model=VersionOut, responses=NOT_FOUND)
async def read_version(
    pattern_id: uuid.UUID, version: int, user: CurrentUser, session: SessionDep
) -> VersionOut:
    viewer = await library.viewer_for(session, user)
    for row in await library.list_versions(session, viewer, pattern_id):
        if row.version == version:
            return VersionOut.model_validate(row)
    raise NotFound(f"Pattern {pattern_id} has no version {version}.")


@router.post(
    "/{pattern_id}/apply",
    response_model=ApplyOut,
    summary="Use a pattern: records a use and returns its files",
    responses=NOT_FOUND,
)
async def apply(
    pattern_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ApplyOut:
    viewer = await library.viewer_for(session, user)
    pattern, use = await feedback.apply_pattern(session, viewer, pattern_id)
    await notices.mail_raised(session, settings)
    return ApplyOut(use_id=use.id, pattern=detail(pattern))


@router.post(
    "/{pattern_id}/feedback",
    response_model=FeedbackOut,
    summary="Report a use's quality-gate outcome, or vote",
    responses={**NOT_FOUND, 409: {"description": "This use's outcome was already reported."}},
)
async def post_feedback(
    pattern_id: uuid.UUID, body: FeedbackIn, user: CurrentUser, session: SessionDep
) -> FeedbackOut:
    viewer = await library.viewer_for(session, user)
    if body.use_id is not None:
        pattern = await feedback.record_outcome(
            session, viewer, pattern_id, body.use_id, passed=body.outcome == "passed"
        )
    else:
        pattern = await feedback.vote(session, viewer, pattern_id, up=body.outcome == "thumbs_up")
    trials = pattern.success_count + pattern.failure_count
    return FeedbackOut(
        pattern_id=pattern.id,
        usage_count=pattern.usage_count,
        success_count=pattern.success_count,
        failure_count=pattern.failure_count,
        wilson_lower_bound=round(wilson_lower_bound(pattern.success_count, trials), 6),
    )


@router.post(
    "/{pattern_id}/contribute",
    response_model=PatternOut,
    status_code=status.HTTP_201_CREATED,
    summary="Copy your pattern to the global library, without author or tenant",
    responses=NOT_FOUND,
)
async def contribute(pattern_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PatternOut:
    viewer = await library.viewer_for(session, user)
    return detail(await library.contribute(session, viewer, pattern_id))
