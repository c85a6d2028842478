"""REST handlers relaying the platform api's pattern library, as the server's user.

Errors have the api's shape, ``{"error": {"status", "code", "message"}}``; the api's own
errors (404 for a pattern you cannot see, 422 for bad input) pass through unchanged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import httpx
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from extensions.patterns.insert import insert_pattern
from extensions.platform_client import PlatformNotConfigured, platform_client

if TYPE_CHECKING:
    from extensions.patterns.app import PatternsApp

MAX_SEARCH_LIMIT = 50


class ApiAnswered(Exception):
    """The api call is over and the handler has already answered (an error)."""


class PatternsHandler(ExtensionHandlerMixin, APIHandler):
    @property
    def patterns_app(self) -> PatternsApp:
        return cast("PatternsApp", self.extensionapp)

    def fail(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"status": status, "code": code, "message": message}}))

    def answer(self, status: int, payload: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            self.fail(400, "invalid_json", f"The request body is not valid JSON: {exc}.")
            raise ApiAnswered from exc
        if not isinstance(body, dict):
            self.fail(400, "invalid_body", "The request body must be a JSON object.")
            raise ApiAnswered
        return body

    async def call_api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The api's JSON on success; otherwise answers with its error and raises ApiAnswered."""
        try:
            async with platform_client(timeout=self.patterns_app.api_timeout) as client:
                response = await client.request(method, path, **kwargs)
        except PlatformNotConfigured as exc:
            self.fail(503, "platform_not_configured", str(exc))
            raise ApiAnswered from exc
        except httpx.TimeoutException as exc:
            self.fail(504, "api_timeout", "The platform api did not answer in time; try again.")
            raise ApiAnswered from exc
        except httpx.HTTPError as exc:
            self.fail(
                503,
                "api_unreachable",
                f"The platform api cannot be reached ({type(exc).__name__}). Try again in a "
                "moment; if it persists, ask the platform's operator.",
            )
            raise ApiAnswered from exc
        try:
            payload = response.json()
        except ValueError:
            self.fail(
                502, "bad_api_response", f"The api answered {response.status_code} without JSON."
            )
            raise ApiAnswered from None
        if response.status_code >= 400:
            self.answer(response.status_code, payload)
            raise ApiAnswered
        return payload


class SearchHandler(PatternsHandler):
    """``GET ?q=&language=&limit=``: the api's ranked, explained search results."""

    @web.authenticated
    async def get(self) -> None:
        query = self.get_query_argument("q", "").strip()
        if not query:
            self.fail(400, "missing_query", "Say what to look for: ?q=read a csv file")
            return
        raw_limit = self.get_query_argument("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_SEARCH_LIMIT:
            self.fail(400, "invalid_limit", f"limit must be 1..{MAX_SEARCH_LIMIT}.")
            return
        body: dict[str, Any] = {"query": query, "limit": int(raw_limit)}
        language = self.get_query_argument("language", "").strip().lower()
        if language:
            body["languages"] = [language]
        try:
            self.answer(200, await self.call_api("POST", "patterns/search", json=body))
        except ApiAnswered:
            return


class PatternHandler(PatternsHandler):
    @web.authenticated
    async def get(self, pattern_id: str) -> None:
        try:
            self.answer(200, await self.call_api("GET", f"patterns/{pattern_id}"))
        except ApiAnswered:
            return


class FeedbackHandler(PatternsHandler):
    """``{"worked": bool, "use_id"?}``: with the use from /insert, the outcome of that use;
    without, a vote on the pattern."""

    @web.authenticated
    async def post(self, pattern_id: str) -> None:
        try:
            body = self.json_body()
            worked = body.get("worked")
            if not isinstance(worked, bool):
                self.fail(400, "invalid_body", 'Send {"worked": true} or {"worked": false}.')
                return
            use_id = body.get("use_id")
            if use_id is not None:
                feedback = {"outcome": "passed" if worked else "failed", "use_id": use_id}
            else:
                feedback = {"outcome": "thumbs_up" if worked else "thumbs_down"}
            payload = await self.call_api("POST", f"patterns/{pattern_id}/feedback", json=feedback)
            self.answer(200, payload)
        except ApiAnswered:
            return


class InsertHandler(PatternsHandler):
    """``{"path", "cell_index"?}``: the pattern's code as a new cell, or appended to a file.

    The api records a use (``use_id`` in the answer: send it with the feedback)."""

    @web.authenticated
    async def post(self, pattern_id: str) -> None:
        try:
            body = self.json_body()
            path = body.get("path")
            cell_index = body.get("cell_index")
            if not isinstance(path, str) or not path.strip("/"):
                self.fail(400, "invalid_body", 'Say where: {"path": "analysis.ipynb"}.')
                return
            if cell_index is not None and (
                not isinstance(cell_index, int) or isinstance(cell_index, bool) or cell_index < 0
            ):
                self.fail(400, "invalid_body", "cell_index must be a number from 0.")
                return
            applied = await self.call_api("POST", f"patterns/{pattern_id}/apply")
        except ApiAnswered:
            return
        pattern = applied["pattern"]
        try:
            inserted = await insert_pattern(self.contents_manager, path, pattern, cell_index)
        except ValueError as exc:
            self.fail(422, "nothing_to_insert", str(exc))
            return
        except web.HTTPError as exc:
            self.fail(exc.status_code, "contents_error", exc.log_message or exc.reason or "")
            return
        self.answer(
            200,
            {
                "path": inserted.path,
                "type": inserted.type,
                "cell_index": inserted.cell_index,
                "use_id": applied["use_id"],
                "pattern_id": pattern["id"],
                "title": pattern["title"],
            },
        )
