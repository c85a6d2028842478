"""Request and response bodies of the pattern library."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.patterns.content import (
    MAX_CONTENT_CHARS,
    MAX_FILES,
    MAX_QUERY_CHARS,
    Language,
    check_path,
    check_tag,
)

Kind = Literal[
    "snippet", "module", "project_template", "architecture_decision", "deployment_config"
]
Visibility = Literal["private", "tenant", "public"]
Scope = Literal["global", "tenant", "personal"]
Outcome = Literal["passed", "failed", "thumbs_up", "thumbs_down"]

Tag = Annotated[str, AfterValidator(check_tag)]
Tags = Annotated[list[Tag], Field(max_length=20)]


class PatternFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, AfterValidator(check_path)] = Field(
        description="Relative path, e.g. 'app/main.py'."
    )
    content: str


def _check_files(files: list[PatternFile], test: PatternFile | None) -> None:
    paths = [f.path for f in files] + ([test.path] if test else [])
    if len(set(paths)) != len(paths):
        raise ValueError("file paths must be unique (the test included)")
    size = sum(len(f.content) for f in files) + (len(test.content) if test else 0)
    if size > MAX_CONTENT_CHARS:
        raise ValueError(f"the files hold {size} characters; at most {MAX_CONTENT_CHARS}")


class PatternContent(BaseModel):
    """The versioned part of a pattern: what it is and its files."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Kind
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=1, max_length=5000)
    language: Language
    tags: Tags = Field(default_factory=list)
    files: list[PatternFile] = Field(min_length=1, max_length=MAX_FILES)
    test: PatternFile | None = Field(
        default=None, description="A small test that exercises the files (pytest for Python)."
    )
    licence: str = Field(default="unspecified", min_length=1, max_length=64)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))

    @model_validator(mode="after")
    def _files_fit(self) -> PatternContent:
        _check_files(self.files, self.test)
        return self


class PatternIn(PatternContent):
    visibility: Visibility | None = Field(
        default=None,
        description="private: only you; tenant: your organisation (the default when you "
        "belong to one); public: the global library (admins only; others contribute).",
    )


class PatternUpdate(BaseModel):
    """Changes to a pattern; omitted fields stay. Content changes make a new version."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Kind | None = None
    title: str | None = Field(default=None, min_length=3, max_length=200)
    description: str | None = Field(default=None, min_length=1, max_length=5000)
    language: Language | None = None
    tags: Tags | None = None
    files: list[PatternFile] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    test: PatternFile | None = None
    licence: str | None = Field(default=None, min_length=1, max_length=64)
    visibility: Visibility | None = None

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else sorted(set(tags))


class PatternSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seed_key: str | None
    kind: Kind
    title: str
    description: str
    language: Language
    tags: list[str]
    licence: str
    author: str | None = Field(description="None for the seed library and anonymous patterns.")
    scope: Scope = Field(description="global library, your tenant's, or your own (no tenant).")
    visibility: Visibility
    version: int
    usage_count: int
    success_count: int
    failure_count: int
    created_at: datetime
    updated_at: datetime


class PatternOut(PatternSummary):
    files: list[PatternFile]
    test: PatternFile | None


class PatternPage(BaseModel):
    items: list[PatternSummary]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as offset for the next page; None: last.")


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    kind: Kind
    title: str
    description: str
    language: Language
    tags: list[str]
    files: list[PatternFile]
    test: PatternFile | None
    licence: str
    edited_by: str | None
    created_at: datetime


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="What you are looking for, in words (or code).",
        examples=["async HTTP client that retries with backoff"],
    )
    kinds: list[Kind] | None = Field(default=None, description="Only these kinds.")
    languages: list[Language] | None = Field(default=None, description="Only these languages.")
    tags: list[Tag] | None = Field(default=None, description="Only patterns with all these tags.")
    limit: int = Field(default=10, ge=1, le=50)


class Explanation(BaseModel):
    summary: str = Field(description="Why this result ranked where it did, in words.")
    score: float
    relevance: float = Field(description="Fused rank of meaning and keywords, 1.0 = best.")
    similarity: float | None = Field(description="Cosine similarity of query and pattern.")
    semantic_rank: int | None
    keyword_rank: int | None
    keyword_score: float | None
    uses: int
    successes: int
    failures: int
    success_rate: float | None
    wilson_lower_bound: float
    evidence: float = Field(description="Wilson bound of successes minus that of failures.")


class SearchResult(BaseModel):
    rank: int
    pattern: PatternSummary
    explanation: Explanation


class SearchOut(BaseModel):
    query: str
    results: list[SearchResult]
    embedding_model: str
    took_ms: float


class ApplyOut(BaseModel):
    use_id: uuid.UUID = Field(description="Report this use's outcome to /feedback.")
    pattern: PatternOut


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome = Field(
        description="passed/failed: quality gates of a use (needs use_id, once per use); "
        "thumbs_up/thumbs_down: your vote (one per person, a new vote replaces it)."
    )
    use_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _use_for_gates(self) -> FeedbackIn:
        if self.outcome in ("passed", "failed") and self.use_id is None:
            raise ValueError("a passed/failed outcome needs the use_id that /apply returned")
        if self.outcome.startswith("thumbs") and self.use_id is not None:
            raise ValueError("thumbs are votes on the pattern: send them without use_id")
        return self


class FeedbackOut(BaseModel):
    pattern_id: uuid.UUID
    usage_count: int
    success_count: int
    failure_count: int
    wilson_lower_bound: float


class ImportOut(BaseModel):
    imported: int
    ids: list[uuid.UUID]
    embedded: int = Field(description="How many lines had no usable embedding and were embedded.")
