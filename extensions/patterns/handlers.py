"""REST handlers relaying the platform api's pattern library, as the server's user.

Errors have the api's shape, ``{"error": {"status", "code", "message"}}``; the api's own
errors (404 for a pattern you cannot see, 422 for bad input) pass through unchanged.

Permissions (``@authorized``; JupyterHub scope ``custom:jupyter_server:<action>:<resource>``):
``read`` on ``patterns:library`` to search and read, ``write`` to report feedback; inserting
needs ``write`` on ``patterns:library`` and on ``contents`` (it changes a file).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from jupyter_server.auth.decorator import authorized
from pydantic import Field, field_validator
from tornado import web

from ..base import (
    BodyProblem,
    HandlerError,
    PlatformHandler,
    RequestBody,
    authorized_for,
)
from .insert import insert_pattern

MAX_SEARCH_LIMIT = 50


class FeedbackBody(RequestBody):
    problems: ClassVar[dict[str, BodyProblem]] = {
        "worked": BodyProblem(400, "invalid_body", 'Send {"worked": true} or {"worked": false}.'),
        "use_id": BodyProblem(
            400, "invalid_body", "use_id is the use_id the insert answered, or left out."
        ),
    }

    worked: bool
    use_id: str | None = None


class InsertBody(RequestBody):
    problems: ClassVar[dict[str, BodyProblem]] = {
        "path": BodyProblem(400, "invalid_body", 'Say where: {"path": "analysis.ipynb"}.'),
        "cell_index": BodyProblem(400, "invalid_body", "cell_index must be a number from 0."),
    }

    path: str
    cell_index: Annotated[int, Field(ge=0)] | None = None

    @field_validator("path")
    @classmethod
    def _names_a_file(cls, path: str) -> str:
        if not path.strip("/"):
            raise ValueError("empty")
        return path


class SearchHandler(PlatformHandler):
    """``GET ?q=&language=&limit=``: the api's ranked, explained search results."""

    auth_resource = "patterns:library"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip()
        if not query:
            raise HandlerError(400, "missing_query", "Say what to look for: ?q=read a csv file")
        raw_limit = self.get_query_argument("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_SEARCH_LIMIT:
            raise HandlerError(400, "invalid_limit", f"limit must be 1..{MAX_SEARCH_LIMIT}.")
        body: dict[str, Any] = {"query": query, "limit": int(raw_limit)}
        language = self.get_query_argument("language", "").strip().lower()
        if language:
            body["languages"] = [language]
        self.answer(await self.api_json("POST", "patterns/search", json=body))


class PatternHandler(PlatformHandler):
    auth_resource = "patterns:library"

    @web.authenticated
    @authorized
    async def get(self, pattern_id: str) -> None:
        self.answer(await self.api_json("GET", f"patterns/{pattern_id}"))


class FeedbackHandler(PlatformHandler):
    """``{"worked": bool, "use_id"?}``: with the use from /insert, the outcome of that use;
    without, a vote on the pattern."""

    auth_resource = "patterns:library"

    @web.authenticated
    @authorized
    async def post(self, pattern_id: str) -> None:
        body = self.body(FeedbackBody)
        if body.use_id is not None:
            feedback = {"outcome": "passed" if body.worked else "failed", "use_id": body.use_id}
        else:
            feedback = {"outcome": "thumbs_up" if body.worked else "thumbs_down"}
        self.answer(await self.api_json("POST", f"patterns/{pattern_id}/feedback", json=feedback))


class InsertHandler(PlatformHandler):
    """``{"path", "cell_index"?}``: the pattern's code as a new cell, or appended to a file.

    The api records a use (``use_id`` in the answer: send it with the feedback)."""

    auth_resource = "patterns:library"

    @web.authenticated
    @authorized
    @authorized_for("write", "contents")  # it changes a file, as the contents api would
    async def post(self, pattern_id: str) -> None:
        body = self.body(InsertBody)
        applied = await self.api_json("POST", f"patterns/{pattern_id}/apply")
        pattern = applied["pattern"]
        try:
            inserted = await insert_pattern(
                self.contents_manager, body.path, pattern, body.cell_index
            )
        except ValueError as exc:
            raise HandlerError(422, "nothing_to_insert", str(exc)) from exc
        except web.HTTPError as exc:
            message = exc.log_message or exc.reason or ""
            raise HandlerError(exc.status_code, "contents_error", message) from exc
        self.answer(
            {
                "path": inserted.path,
                "type": inserted.type,
                "cell_index": inserted.cell_index,
                "use_id": applied["use_id"],
                "pattern_id": pattern["id"],
                "title": pattern["title"],
            }
        )
