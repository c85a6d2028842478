"""REST handlers: engine status, chat (a relayed NDJSON stream), history, notebook generation.

Permissions (``@authorized``; JupyterHub scope ``custom:jupyter_server:<action>:<resource>``):
``read`` on ``assistant:status`` and ``assistant:usage``; ``read`` (history) and ``write``
(ask, delete) on ``assistant:chat``; ``write`` on ``assistant:notebook`` and on ``contents``
to generate a notebook (it saves a file).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, ClassVar, cast

import httpx
import nbformat
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from pydantic import ConfigDict, field_validator
from tornado import web
from tornado.iostream import StreamClosedError

from ..base import (
    BodyProblem,
    HandlerError,
    PlatformHandler,
    RequestBody,
    authorized_for,
    body_problem,
)
from ..platform_client import ApiUnavailable

if TYPE_CHECKING:
    from .app import AssistantApp

MAX_PROMPT = 20_000
MAX_DESCRIPTION = 5_000
CONVERSATION_ID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


class ChatBody(RequestBody):
    """The question; the rest (conversation, action, context) goes to the api, which checks it."""

    model_config = ConfigDict(strict=True, extra="allow")
    problems: ClassVar[dict[str, BodyProblem]] = {
        "message": BodyProblem(
            422, "empty_message", "Write a question or instruction for the assistant."
        )
    }
    invalid_status: ClassVar[int] = 422

    message: str

    @field_validator("message")
    @classmethod
    def _fits(cls, message: str) -> str:
        if not message.strip():
            raise ValueError("empty")
        if len(message) > MAX_PROMPT:
            raise body_problem(
                413,
                "prompt_too_long",
                f"The prompt is {len(message)} characters; the limit is {MAX_PROMPT}. "
                "Shorten it or ask about a smaller part (select the lines that matter).",
            )
        return message


class NotebookBody(RequestBody):
    problems: ClassVar[dict[str, BodyProblem]] = {
        "description": BodyProblem(
            422, "empty_description", "Describe the notebook you want, in a sentence."
        ),
        "path": BodyProblem(422, "invalid_path", "path must be a folder (a string) or left out."),
    }
    invalid_status: ClassVar[int] = 422

    description: str
    path: str | None = None

    @field_validator("description")
    @classmethod
    def _fits(cls, description: str) -> str:
        if not description.strip():
            raise ValueError("empty")
        if len(description) > MAX_DESCRIPTION:
            raise body_problem(
                413,
                "description_too_long",
                f"The description is {len(description)} characters; the limit is "
                f"{MAX_DESCRIPTION}. Keep it to the goal and the main steps.",
            )
        return description


class AssistantHandler(PlatformHandler):
    @property
    def assistant(self) -> AssistantApp:
        return cast("AssistantApp", self.extensionapp)

    def api_unavailable(self, exc: ApiUnavailable) -> HandlerError:
        self.assistant.engine_status.forget()
        return super().api_unavailable(exc)


class StatusHandler(AssistantHandler):
    auth_resource = "assistant:status"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        fresh = self.get_query_argument("fresh", "") in ("1", "true")
        self.answer(await self.assistant.engine_status.get(fresh=fresh))


class ChatHandler(AssistantHandler):
    auth_resource = "assistant:chat"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body(ChatBody).model_dump()
        try:
            async with self.platform.stream("POST", "assistant/chat", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    self.relay_response(response)
                    return
                await self._relay_stream(response)
        except ApiUnavailable as exc:
            if not self._headers_written:
                raise self.api_unavailable(exc) from exc
            self.assistant.engine_status.forget()
            await self._write_line({"type": "error", "code": exc.code, "message": exc.message})
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
    auth_resource = "assistant:chat"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay("GET", "assistant/conversations")


class ConversationHandler(AssistantHandler):
    auth_resource = "assistant:chat"

    def _path(self, conversation_id: str) -> str:
        if not CONVERSATION_ID.match(conversation_id):
            raise HandlerError(404, "not_found", "No such conversation.")
        return f"assistant/conversations/{conversation_id}"

    @web.authenticated
    @authorized
    async def get(self, conversation_id: str) -> None:
        await self.relay("GET", self._path(conversation_id))

    @web.authenticated
    @authorized
    async def delete(self, conversation_id: str) -> None:
        await self.relay("DELETE", self._path(conversation_id))


class SessionUsageHandler(AssistantHandler):
    """Today's session minutes against the plan (the api's ``me/usage``), so JupyterLab can
    warn before the server is stopped for the day."""

    auth_resource = "assistant:usage"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay("GET", "me/usage", seconds=5.0)


class NotebookHandler(AssistantHandler):
    """Generate a notebook from a description and save it next to the user's files."""

    auth_resource = "assistant:notebook"

    @web.authenticated
    @authorized
    @authorized_for("write", "contents")  # it saves a file, as the contents api would
    async def post(self) -> None:
        body = self.body(NotebookBody)
        generated = await self.api_json(
            "POST", "assistant/notebook", json={"description": body.description}
        )
        try:
            notebook = nbformat.from_dict(generated["notebook"])  # type: ignore[no-untyped-call]
            nbformat.validate(notebook)
            title = str(generated.get("title") or "Generated notebook")
        except (KeyError, TypeError, AttributeError, nbformat.ValidationError) as exc:
            raise HandlerError(
                502, "invalid_notebook", f"The generated notebook is not valid: {exc}"
            ) from exc
        path = await self._free_path(body.path or "", title)
        model = {"type": "notebook", "format": "json", "content": notebook}
        manager: Any = self.contents_manager
        await ensure_async(manager.save(model, path))
        self.answer({"path": path, "title": title, "engine": generated.get("engine")}, 201)

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
        raise HandlerError(409, "conflict", "Too many notebooks with this title in the folder.")
