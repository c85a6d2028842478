"""REST handlers: engine status, chat (a relayed NDJSON stream), history, notebook generation."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, cast

import httpx
import nbformat
from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from extensions.assistant.platform import ApiUnavailable, PlatformApi

if TYPE_CHECKING:
    from extensions.assistant.app import AssistantApp

MAX_PROMPT = 20_000
MAX_DESCRIPTION = 5_000
CONVERSATION_ID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


class AssistantHandler(ExtensionHandlerMixin, APIHandler):
    """Errors as ``{"error": {"status", "code", "message"}}``, like the platform api."""

    @property
    def assistant(self) -> AssistantApp:
        return cast("AssistantApp", self.extensionapp)

    @property
    def platform(self) -> PlatformApi:
        return self.assistant.platform

    def fail(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"status": status, "code": code, "message": message}}))

    def json_body(self) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering 400."""
        try:
            body = json.loads(self.request.body or b"null")
        except ValueError as exc:
            self.fail(400, "invalid_json", f"The request body is not valid JSON: {exc}.")
            return None
        if not isinstance(body, dict):
            self.fail(400, "invalid_body", "The request body must be a JSON object.")
            return None
        return body

    def relay(self, response: httpx.Response) -> None:
        """Pass the api's answer on: status and JSON body (or a JSON error for anything else)."""
        if response.status_code == 204:
            self.set_status(204)
            self.finish()
            return
        try:
            payload = response.json()
        except ValueError:
            self.fail(
                502,
                "bad_api_response",
                f"The platform api answered {response.status_code} without JSON.",
            )
            return
        self.set_status(response.status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def unavailable(self, exc: ApiUnavailable) -> None:
        self.platform.forget_status()
        self.fail(
            503,
            "api_unreachable",
            f"{exc.message.rstrip('.')}. Try again in a moment; if it persists, ask the "
            "platform's operator.",
        )


class StatusHandler(AssistantHandler):
    @web.authenticated
    async def get(self) -> None:
        fresh = self.get_query_argument("fresh", "") in ("1", "true")
        self.finish(json.dumps(await self.platform.status(fresh=fresh)))


class ChatHandler(AssistantHandler):
    @web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        if body is None:
            return
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            self.fail(422, "empty_message", "Write a question or instruction for the assistant.")
            return
        if len(message) > MAX_PROMPT:
            self.fail(
                413,
                "prompt_too_long",
                f"The prompt is {len(message)} characters; the limit is {MAX_PROMPT}. "
                "Shorten it or ask about a smaller part (select the lines that matter).",
            )
            return
        try:
            async with self.platform.stream("POST", "assistant/chat", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    self.relay(response)
                    return
                await self._relay_stream(response)
        except ApiUnavailable as exc:
            if not self._headers_written:
                self.unavailable(exc)
                return
            await self._write_line(
                {"type": "error", "code": "api_unreachable", "message": exc.message}
            )
            self.finish()

    async def _relay_stream(self, response: httpx.Response) -> None:
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        async for line in response.aiter_lines():
            if line.strip() and not await self._write_raw(line):
                return  # the browser went away: stop reading the model's answer
        self.finish()

    async def _write_line(self, event: dict[str, Any]) -> bool:
        return await self._write_raw(json.dumps(event))

    async def _write_raw(self, line: str) -> bool:
        try:
            self.write(line + "\n")
            await self.flush()
        except StreamClosedError:
            return False
        return True


class ConversationsHandler(AssistantHandler):
    @web.authenticated
    async def get(self) -> None:
        try:
            self.relay(await self.platform.request("GET", "assistant/conversations"))
        except ApiUnavailable as exc:
            self.unavailable(exc)


class SessionUsageHandler(AssistantHandler):
    """Today's session minutes against the plan (the api's ``me/usage``), so JupyterLab can
    warn before the server is stopped for the day."""

    @web.authenticated
    async def get(self) -> None:
        try:
            self.relay(await self.platform.request("GET", "me/usage", seconds=5.0))
        except ApiUnavailable as exc:
            self.unavailable(exc)


class ConversationHandler(AssistantHandler):
    def _checked(self, conversation_id: str) -> bool:
        if CONVERSATION_ID.match(conversation_id):
            return True
        self.fail(404, "not_found", "No such conversation.")
        return False

    @web.authenticated
    async def get(self, conversation_id: str) -> None:
        if self._checked(conversation_id):
            try:
                path = f"assistant/conversations/{conversation_id}"
                self.relay(await self.platform.request("GET", path))
            except ApiUnavailable as exc:
                self.unavailable(exc)

    @web.authenticated
    async def delete(self, conversation_id: str) -> None:
        if self._checked(conversation_id):
            try:
                path = f"assistant/conversations/{conversation_id}"
                self.relay(await self.platform.request("DELETE", path))
            except ApiUnavailable as exc:
                self.unavailable(exc)


class NotebookHandler(AssistantHandler):
    """Generate a notebook from a description and save it next to the user's files."""

    @web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        if body is None:
            return
        description = body.get("description")
        folder = body.get("path") or ""
        if not isinstance(description, str) or not description.strip():
            self.fail(422, "empty_description", "Describe the notebook you want, in a sentence.")
            return
        if len(description) > MAX_DESCRIPTION:
            self.fail(
                413,
                "description_too_long",
                f"The description is {len(description)} characters; the limit is "
                f"{MAX_DESCRIPTION}. Keep it to the goal and the main steps.",
            )
            return
        if not isinstance(folder, str):
            self.fail(422, "invalid_path", "path must be a folder (a string) or left out.")
            return
        try:
            response = await self.platform.request(
                "POST", "assistant/notebook", json={"description": description}
            )
        except ApiUnavailable as exc:
            self.unavailable(exc)
            return
        if response.status_code != 200:
            self.relay(response)
            return
        try:
            generated = response.json()
            notebook = nbformat.from_dict(generated["notebook"])  # type: ignore[no-untyped-call]
            nbformat.validate(notebook)
            title = str(generated.get("title") or "Generated notebook")
        except (ValueError, KeyError, TypeError, nbformat.ValidationError) as exc:
            self.fail(502, "invalid_notebook", f"The generated notebook is not valid: {exc}")
            return
        path = await self._free_path(folder, title)
        model = {"type": "notebook", "format": "json", "content": notebook}
        manager: Any = self.contents_manager
        await ensure_async(manager.save(model, path))
        self.set_status(201)
        self.finish(json.dumps({"path": path, "title": title, "engine": generated.get("engine")}))

    async def _free_path(self, folder: str, title: str) -> str:
        folder = folder.strip("/")
        if folder.endswith(".ipynb"):
            folder = folder.rsplit("/", 1)[0] if "/" in folder else ""
        stem = re.sub(r"[^\w\- ]+", "", title).strip().replace(" ", "-")[:60] or "notebook"
        manager: Any = self.contents_manager
        for attempt in range(1000):
            name = f"{stem}.ipynb" if attempt == 0 else f"{stem}-{attempt}.ipynb"
            path = f"{folder}/{name}" if folder else name
            if not await ensure_async(manager.file_exists(path)):
                return path
        raise web.HTTPError(409, "Too many notebooks with this title in the folder.")
