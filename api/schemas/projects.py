"""Request and response bodies of project generation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_DESCRIPTION_BYTES = 20 * 1024
LANGUAGES = ("python", "javascript")


class ProjectOptions(BaseModel):
    """Unknown options are refused, so a typo is an error instead of being ignored."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["python", "javascript"] = Field(
        default="python",
        description="The project's language: python (gates: pytest, ruff, bandit) or "
        "javascript (Node 20, CommonJS; gates: node --check, node --test).",
    )
    stack: list[str] = Field(
        default_factory=list, max_length=10, description="Hints, e.g. ['fastapi', 'pytest']."
    )
    constraints: list[str] = Field(
        default_factory=list, max_length=10, description="e.g. ['no external services']."
    )

    @field_validator("stack", "constraints")
    @classmethod
    def _short_items(cls, items: list[str]) -> list[str]:
        for item in items:
            if not item.strip() or len(item) > 200:
                raise ValueError("each item must be 1 to 200 characters")
        return [item.strip() for item in items]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(description="What to build, in words (at most 20 KB).")
    options: ProjectOptions = Field(default_factory=ProjectOptions)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("describe the project: the description is empty")
        if len(value.encode()) > MAX_DESCRIPTION_BYTES:
            raise ValueError(
                f"the description is {len(value.encode())} bytes; at most "
                f"{MAX_DESCRIPTION_BYTES} are accepted"
            )
        return value.strip()


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner: str
    description: str
    options: dict[str, Any]
    status: str
    engine: str | None
    attempts: int
    summary: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ProjectEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    type: str
    step: str | None
    payload: dict[str, Any]
    occurred_at: datetime


class ProjectStateOut(BaseModel):
    seq: int
    at: datetime | None
    status: str
    files: dict[str, str]
    decisions: list[dict[str, Any]]
    gates: dict[str, dict[str, Any]]


class TimePoint(BaseModel):
    seq: int
    type: str
    step: str | None
    occurred_at: datetime


class WorkspaceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str | None = Field(
        default=None, description="Folder in your workspace. Default: projects/<short id>."
    )
    seq: int | None = Field(default=None, ge=0, description="The files as of this point.")


class WorkspaceOut(BaseModel):
    folder: str
    files: int
    url: str


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0, description="Make the files what they were at this sequence number.")
