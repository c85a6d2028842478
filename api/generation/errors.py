"""Errors of project generation (``ApiError`` subclasses, so the routes need no mapping)."""

from __future__ import annotations

from api.errors import ApiError, Conflict, NotFound


class ProjectNotFound(NotFound):
    pass


class ProjectStateConflict(Conflict):
    """The project is not in a state that allows this (e.g. retrying a running job)."""


class GenerationLimitReached(ApiError):
    """The plan's generations a day are used up."""

    status = 429
    code = "generation_limit_reached"


class SandboxUnavailable(ApiError):
    status = 503
    code = "sandbox_unavailable"


class GenerationCancelled(Exception):
    """Raised inside the pipeline when the project was cancelled between steps."""
