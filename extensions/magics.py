"""IPython magics: the assistant and the pattern library in any notebook, console or script.

- ``%%assist`` (or ``%assist <question>``) — the answer streams into the output. Options:
  ``--new`` starts a new conversation, ``--explain`` / ``--fix`` send the last error
  (``%assist --explain`` alone asks about it).
- ``%patterns search <query>`` — a table of the best patterns.
- ``%patterns insert <id>`` — the pattern's code goes into the next cell.
- ``%patterns feedback <id> worked|failed`` — how the inserted pattern did.

Calls go to the platform api as the server's user, through the extensions' one client
(``PlatformApi`` in ``platform_client.py``, async): the user's plan and usage apply and no
model key is needed here. The magics are synchronous and may be called while the kernel's own
event loop runs, so they run the client's calls on a private loop in a worker thread
(``LoopThread`` in ``loop_thread.py``) and wait for them. Load with
``%load_ext datazentr_extensions.magics`` (the platform's image loads it in every kernel).
"""

from __future__ import annotations

import html
import json
import shlex
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display

from .loop_thread import LoopThread
from .platform_client import ApiUnavailable, PlatformApi

CHAT_TIMEOUT = 120.0
CALL_TIMEOUT = 30.0
NOTEBOOK_CONTEXT_CHARS = 20_000
HISTORY_CELLS = 10
# IPython's display() has no type hints.
show = cast("Callable[..., None]", display)
USAGE = (
    "Usage: %patterns search <what you need> | %patterns insert <id> | "
    "%patterns feedback <id> worked|failed"
)
# One worker thread for the whole kernel, started by the first magic that calls the api.
api_loop = LoopThread()


class MagicError(Exception):
    """Something to tell the user instead of a traceback."""


def platform_api(timeout: float) -> PlatformApi:
    """The platform api as this server's user, for one magic call (tests replace it)."""
    return PlatformApi(timeout=timeout)


def error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") or response.text)
    except ValueError:
        return f"The platform api answered {response.status_code}."


async def call_api(method: str, path: str, *, json: Any = None) -> Any:
    """The api's JSON answer, or MagicError with its error message."""
    async with platform_api(CALL_TIMEOUT) as api:
        response = await api.request(method, path, json=json)
    if response.status_code >= 400:
        raise MagicError(error_message(response))
    return response.json()


async def chat_events(body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The events of a chat answer (NDJSON), as the api streams them."""
    async with (
        platform_api(CHAT_TIMEOUT) as api,
        api.stream("POST", "assistant/chat", json=body) as response,
    ):
        if response.status_code != 200:
            await response.aread()
            raise MagicError(error_message(response))
        async for raw in response.aiter_lines():
            if raw.strip():
                yield json.loads(raw)


@magics_class
class DatazentrMagics(Magics):
    def __init__(self, shell: InteractiveShell | None = None) -> None:
        super().__init__(shell)
        self.conversation_id: str | None = None
        self.uses: dict[str, str] = {}  # pattern id -> use id of its last insert

    # %%assist ---------------------------------------------------------------------

    @line_cell_magic
    def assist(self, line: str, cell: str | None = None) -> None:
        """Ask the assistant; the answer streams below. Options: --new, --explain, --fix.

        ``%%assist`` takes the cell as the question; ``%assist <question>`` the rest of the
        line, and ``%assist --explain`` (or ``--fix``) alone asks about the last error.
        """
        words = line.split()
        options = {word for word in words if word.startswith("--")}
        unknown = options - {"--new", "--explain", "--fix"}
        if unknown:
            print(f"Unknown option {sorted(unknown)[0]}: use --new, --explain or --fix.")
            return
        if "--new" in options:
            self.conversation_id = None
        action = "fix_error" if "--fix" in options else "chat"
        action = "explain_error" if "--explain" in options else action
        text = cell if cell is not None else " ".join(w for w in words if w not in options)
        default = {"explain_error": "Explain this error.", "fix_error": "Fix this error."}
        question = text.strip() or default.get(action, "")
        if not question:
            print("Ask something: %assist <question>, or a %%assist cell.")
            return
        body: dict[str, Any] = {
            "message": question,
            "conversation_id": self.conversation_id,
            "action": action,
            "context": self._context(with_error=action != "chat"),
        }
        try:
            for event in api_loop.iterate(chat_events(body)):
                self._show_event(event)
        except (MagicError, ApiUnavailable) as exc:
            print(str(exc), file=sys.stderr)

    def _context(self, *, with_error: bool) -> dict[str, Any]:
        context: dict[str, Any] = {"language": "python", "path": None}
        history = self.shell.user_ns.get("In", []) if self.shell else []
        recent = [str(cell) for cell in history[-HISTORY_CELLS:] if str(cell).strip()]
        if recent:
            context["notebook"] = "\n\n".join(recent)[-NOTEBOOK_CONTEXT_CHARS:]
        error = getattr(sys, "last_value", None)
        if with_error and error is not None:
            lines = traceback.format_exception(type(error), error, error.__traceback__)
            context["error"] = {
                "ename": type(error).__name__,
                "evalue": str(error),
                "traceback": lines[-20:],
            }
        return context

    def _show_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "start":
            self.conversation_id = str(event["conversation_id"])
        elif kind == "notice":
            print(f"[{event['message']}]\n", flush=True)
        elif kind == "delta":
            sys.stdout.write(str(event["text"]))
            sys.stdout.flush()
        elif kind == "done":
            engine = event.get("engine")
            print(f"\n\n— answered by the {engine} engine", flush=True)
        elif kind == "error":
            print(f"\n[{event.get('message')}]", file=sys.stderr, flush=True)

    # %patterns --------------------------------------------------------------------

    @line_magic
    def patterns(self, line: str) -> None:
        """%patterns search <query> | insert <id> | feedback <id> worked|failed"""
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        command, rest = (words[0], words[1:]) if words else ("", [])
        try:
            if command == "search" and rest:
                self._search(" ".join(rest))
            elif command == "insert" and len(rest) == 1:
                self._insert(rest[0])
            elif command == "feedback" and len(rest) == 2 and rest[1] in ("worked", "failed"):
                self._feedback(rest[0], rest[1] == "worked")
            else:
                print(USAGE)
        except (MagicError, ApiUnavailable) as exc:
            print(str(exc), file=sys.stderr)

    def _call(self, method: str, path: str, *, json: Any = None) -> Any:
        return api_loop.run(call_api(method, path, json=json))

    def _search(self, query: str) -> None:
        found = self._call("POST", "patterns/search", json={"query": query, "limit": 10})
        results = found.get("results", [])
        if not results:
            print(f"No pattern matches {query!r}.")
            return
        rows_text = []
        rows_html = []
        for result in results:
            pattern = result["pattern"]
            why = result["explanation"]["summary"]
            rows_text.append(
                f"{result['rank']:>2}. {pattern['title']} [{pattern['language']}]  {pattern['id']}"
            )
            rows_html.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(value))}</td>"
                    for value in (
                        result["rank"],
                        pattern["title"],
                        pattern["language"],
                        pattern["id"],
                        why,
                    )
                )
                + "</tr>"
            )
        hint = "Insert one with: %patterns insert <id>"
        table = (
            "<table><thead><tr><th>#</th><th>pattern</th><th>language</th><th>id</th>"
            "<th>why it matched</th></tr></thead><tbody>"
            + "".join(rows_html)
            + f"</tbody></table><p>{html.escape(hint)}</p>"
        )
        show({"text/html": table, "text/plain": "\n".join([*rows_text, hint])}, raw=True)

    def _insert(self, pattern_id: str) -> None:
        applied = self._call("POST", f"patterns/{pattern_id}/apply")
        pattern = applied["pattern"]
        files = pattern.get("files") or []
        if not files:
            raise MagicError(f"The pattern {pattern['title']!r} has no code to insert.")
        code = str(files[0]["content"]).strip("\n")
        if pattern.get("language") != "python":
            code = f"%%writefile {files[0]['path']}\n{code}"
        self.uses[str(pattern["id"])] = str(applied["use_id"])
        if self.shell is not None:
            self.shell.set_next_input(code, replace=False)
        print(
            f"Inserted {pattern['title']!r} into the next cell. Afterwards: "
            f"%patterns feedback {pattern['id']} worked|failed"
        )

    def _feedback(self, pattern_id: str, worked: bool) -> None:
        use_id = self.uses.pop(pattern_id, None)
        if use_id is not None:
            body: dict[str, Any] = {"outcome": "passed" if worked else "failed", "use_id": use_id}
        else:
            body = {"outcome": "thumbs_up" if worked else "thumbs_down"}
        result = self._call("POST", f"patterns/{pattern_id}/feedback", json=body)
        print(
            f"Thanks: {result['success_count']} successes and {result['failure_count']} "
            "failures recorded for this pattern."
        )


def load_ipython_extension(ipython: InteractiveShell) -> None:
    ipython.register_magics(DatazentrMagics)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Nothing to undo: IPython keeps registered magics until the kernel ends."""
