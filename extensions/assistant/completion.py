"""Inline completion over a WebSocket in jupyter-ai v2's wire format.

Request ``{number, prefix, suffix, mime, stream, path, language, cell_id}``; reply
``{type: "inline_completion", list: {items: [{insertText}]}, reply_to, engine}`` and, when
``stream`` is true, one ``{type: "stream", response: {insertText, token}, reply_to, done}``.
With a model configured in the platform the api completes; otherwise, or when the model is
slow or down, jedi completes locally (it knows the packages installed in this server).

Permission: ``execute`` on ``assistant:completion`` (a WebSocket, as jupyter_server labels its
channels; JupyterHub scope ``custom:jupyter_server:execute:assistant:completion``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import jedi  # type: ignore[import-untyped]
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import websocket

from ..base import authorized_for
from ..platform_client import ApiUnavailable

if TYPE_CHECKING:
    from .app import AssistantApp

MAX_SOURCE = 20_000
PYTHON_LANGUAGES = {"python", "ipython", "python3"}
IDENTIFIER_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


class CompletionRequestError(ValueError):
    """A request that does not follow the wire format (reply_to: its number, if readable)."""

    def __init__(self, message: str, number: int = -1) -> None:
        super().__init__(message)
        self.number = number


# jedi is not thread-safe and keeps process-wide caches: one thread of the process runs it,
# for every completer (a server that restarts its extension, or tests, make several).
_JEDI_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jedi")


class JediCompleter:
    """jedi in its worker thread (the event loop stays free)."""

    def __init__(self, max_items: int = 5, root_dir: str | None = None) -> None:
        self.max_items = max_items
        self.closed = False
        self._environment = jedi.InterpreterEnvironment()
        # Warm jedi's caches (builtins, the project of the server's root) before the first
        # keystroke: the first completion otherwise takes about a second.
        warm_path = os.path.join(root_dir, "untitled.py") if root_dir else None
        _JEDI_THREAD.submit(self._unless_closed, "import os\nos.pa", "", warm_path)

    def _unless_closed(self, prefix: str, suffix: str, path: str | None) -> list[str]:
        return [] if self.closed else self.complete_sync(prefix, suffix, path)

    def complete_sync(self, prefix: str, suffix: str, path: str | None) -> list[str]:
        line_text = prefix.rsplit("\n", 1)[-1]
        typed = IDENTIFIER_TAIL.search(line_text)
        after_dot = line_text.endswith(".")
        if not typed and not after_dot:
            return []  # nothing to complete: no ghost text after spaces or brackets
        word = typed.group(0) if typed else ""
        line = prefix.count("\n") + 1
        script = jedi.Script(code=prefix + suffix, path=path, environment=self._environment)
        items: list[str] = []
        for completion in script.complete(line, len(line_text)):
            rest = completion.complete or ""
            if not rest or (completion.name.startswith("_") and not word.startswith("_")):
                continue
            items.append(rest)
            if len(items) >= self.max_items:
                break
        return items

    async def complete(
        self,
        prefix: str,
        suffix: str,
        path: str | None,
        wanted: Callable[[], bool] = lambda: True,
    ) -> list[str]:
        """Completions in the jedi thread; ``wanted`` is asked when the thread gets to the
        request (after fast typing, older requests in the queue are no longer wanted)."""

        def run() -> list[str]:
            return self._unless_closed(prefix, suffix, path) if wanted() else []

        return await asyncio.get_running_loop().run_in_executor(_JEDI_THREAD, run)

    def close(self) -> None:
        """Requests still queued for the jedi thread answer nothing."""
        self.closed = True


def parse_request(raw: str | bytes) -> dict[str, Any]:
    try:
        request = json.loads(raw)
    except ValueError as exc:
        raise CompletionRequestError(f"The message is not JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise CompletionRequestError("A completion request is a JSON object.")
    if not isinstance(request.get("number"), int):
        raise CompletionRequestError("number (the request's integer id) is required.")
    number = request["number"]
    for field in ("prefix", "suffix"):
        value = request.get(field, "")
        if not isinstance(value, str):
            raise CompletionRequestError(f"{field} must be a string.", number)
        if len(value) > MAX_SOURCE:
            raise CompletionRequestError(
                f"{field} is {len(value)} characters; the limit is {MAX_SOURCE}.", number
            )
    return request


def language_of(request: dict[str, Any]) -> str:
    """The request's language; an editor that does not know yet (``plain``) on a Python
    file or notebook means Python."""
    language = request.get("language")
    mime = str(request.get("mime") or "")
    if isinstance(language, str) and language and language.lower() not in ("plain", "text"):
        return language.lower()
    if "python" in mime:
        return "python"
    path = request.get("path")
    if isinstance(path, str) and path.endswith((".py", ".ipynb")):
        return "python"
    return mime.rsplit("/", 1)[-1] or "plain"


class InlineCompletionHandler(ExtensionHandlerMixin, JupyterHandler, websocket.WebSocketHandler):
    """``api/ai/completion/inline``: one socket per editor session, many requests on it."""

    @property
    def assistant(self) -> AssistantApp:
        return cast("AssistantApp", self.extensionapp)

    auth_resource = "assistant:completion"

    @ws_authenticated
    @authorized_for("execute")  # refused with 403 before the socket opens
    async def get(self, *args: Any, **kwargs: Any) -> None:
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    latest = 0  # the newest request number seen on this socket

    def on_message(self, message: str | bytes) -> None:
        task = asyncio.ensure_future(self.answer(message))
        task.add_done_callback(lambda done: done.exception())  # errors are answered in answer()

    async def answer(self, message: str | bytes) -> None:
        number: int = -1
        try:
            request = parse_request(message)
            number = request["number"]
            self.latest = max(self.latest, number)
            items, engine = await self.suggestions(request)
        except CompletionRequestError as exc:
            number = exc.number
            self.send(
                {
                    "type": "inline_completion",
                    "list": {"items": []},
                    "reply_to": number,
                    "error": {"type": "invalid_request", "title": str(exc), "traceback": ""},
                }
            )
            return
        except Exception as exc:  # the editor gets an answer for every request
            self.log.exception("inline completion failed")
            self.send(
                {
                    "type": "inline_completion",
                    "list": {"items": []},
                    "reply_to": number,
                    "error": {"type": type(exc).__name__, "title": str(exc), "traceback": ""},
                }
            )
            return
        if request.get("stream") and items:
            token = uuid.uuid4().hex
            self.send(
                {
                    "type": "inline_completion",
                    "reply_to": number,
                    "engine": engine,
                    "list": {"items": [{"insertText": "", "isIncomplete": True, "token": token}]},
                }
            )
            self.send(
                {
                    "type": "stream",
                    "reply_to": number,
                    "done": True,
                    "response": {"insertText": items[0], "token": token},
                }
            )
            return
        self.send(
            {
                "type": "inline_completion",
                "reply_to": number,
                "engine": engine,
                "list": {"items": [{"insertText": text} for text in items]},
            }
        )

    async def suggestions(self, request: dict[str, Any]) -> tuple[list[str], str]:
        prefix, suffix = request.get("prefix", ""), request.get("suffix", "")
        path = request.get("path") if isinstance(request.get("path"), str) else None
        language = language_of(request)
        app = self.assistant
        status = await app.engine_status.get()
        if status.get("engine") == "model" and status.get("model_reachable") is not False:
            try:
                response = await app.platform.request(
                    "POST",
                    "assistant/complete",
                    json={"prefix": prefix, "suffix": suffix, "language": language, "path": path},
                    seconds=app.completion_timeout,
                )
                if response.status_code == 200:
                    texts = [str(item.get("insertText", "")) for item in response.json()["items"]]
                    texts = [text for text in texts if text]
                    if texts:
                        return texts[: app.max_completions], str(status.get("model") or "model")
            except (ApiUnavailable, ValueError, KeyError, TypeError, AttributeError):
                self.log.info("model completion unavailable; jedi completes")
        if language not in PYTHON_LANGUAGES:
            return [], "offline"
        number = request["number"]
        # Typing went on: the editor shows only the newest request's answer.
        items = await app.completer.complete(prefix, suffix, path, lambda: number >= self.latest)
        return items, "offline"

    def send(self, reply: dict[str, Any]) -> None:
        with contextlib.suppress(websocket.WebSocketClosedError):
            self.write_message(json.dumps(reply))
