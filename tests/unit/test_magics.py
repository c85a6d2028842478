"""The IPython magics in a real IPython shell, against a stand-in for the platform api that
answers in the contract's shapes (the api itself has integration tests)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell

import extensions.magics
from extensions.platform_client import PlatformApi

PATTERN_ID = str(uuid.uuid4())
USE_ID = str(uuid.uuid4())
PATTERN = {
    "id": PATTERN_ID,
    "title": "Atomic file write",
    "language": "python",
    "files": [{"path": "atomic.py", "content": "\nimport os\n\ndef write(path, data):\n    ...\n"}],
}


class FakeApi:
    """Records requests; answers like the platform api."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.chat_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body: Any = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/services/api/")
        self.requests.append((request.method, path, body))
        assert request.headers["authorization"] == "token user-token"
        if path == "assistant/chat":
            if self.chat_status != 200:
                return httpx.Response(
                    self.chat_status,
                    json={
                        "error": {
                            "status": 429,
                            "code": "assistant_limit_reached",
                            "message": "Your plan (Free) allows 100 assistant requests a day",
                        }
                    },
                )
            conversation = body["conversation_id"] or "c-1"
            lines = [
                {
                    "type": "start",
                    "conversation_id": conversation,
                    "message_id": "m",
                    "engine": "offline",
                    "model": None,
                },
                {"type": "notice", "message": "The model endpoint is unreachable"},
                {"type": "delta", "text": "**Offline answer**: "},
                {"type": "delta", "text": "use pandas."},
                {
                    "type": "done",
                    "engine": "offline",
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0},
                },
            ]
            return httpx.Response(200, text="".join(json.dumps(x) + "\n" for x in lines))
        if path == "patterns/search":
            return httpx.Response(
                200,
                json={
                    "results": [
                        {
                            "rank": 1,
                            "pattern": PATTERN,
                            "explanation": {
                                "summary": "Found #1 by meaning <b>(similarity 0.71)</b>."
                            },
                        }
                    ]
                },
            )
        if path == f"patterns/{PATTERN_ID}/apply":
            return httpx.Response(200, json={"use_id": USE_ID, "pattern": PATTERN})
        if path == f"patterns/{PATTERN_ID}/feedback":
            return httpx.Response(
                200,
                json={
                    "pattern_id": PATTERN_ID,
                    "usage_count": 1,
                    "success_count": 1,
                    "failure_count": 0,
                    "wilson_lower_bound": 0.2,
                },
            )
        return httpx.Response(
            404,
            json={"error": {"status": 404, "code": "not_found", "message": f"No pattern {path}."}},
        )


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    fake = FakeApi()
    monkeypatch.setenv("DATAZENTR_API_URL", "http://api.test/services/api")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "user-token")

    def platform_api(timeout: float) -> PlatformApi:
        # The real client, configured from the environment, on a transport that answers here.
        return PlatformApi(timeout=timeout, transport=httpx.MockTransport(fake))

    monkeypatch.setattr(extensions.magics, "platform_api", platform_api)
    yield fake


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "extensions.magics")
    return ip


def test_the_extension_registers_both_magics(shell: InteractiveShell) -> None:
    assert "assist" in shell.magics_manager.magics["cell"]
    assert "patterns" in shell.magics_manager.magics["line"]


def test_assist_streams_the_answer_and_keeps_the_conversation(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell_magic("assist", "--new", "How do I read a CSV file?")
    out = capsys.readouterr().out
    assert "[The model endpoint is unreachable]" in out
    assert "**Offline answer**: use pandas." in out
    assert "answered by the offline engine" in out
    method, path, body = api.requests[-1]
    assert (method, path) == ("POST", "assistant/chat")
    assert body["message"] == "How do I read a CSV file?" and body["conversation_id"] is None
    assert body["action"] == "chat" and "error" not in body["context"]

    shell.run_cell_magic("assist", "", "And then?")
    assert api.requests[-1][2]["conversation_id"] == "c-1"


def test_assist_explain_sends_the_last_error(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("{}['missing']", store_history=True)
    capsys.readouterr()
    shell.run_line_magic("assist", "--explain --new")
    body = api.requests[-1][2]
    assert body["action"] == "explain_error" and body["message"] == "Explain this error."
    assert body["context"]["error"]["ename"] == "KeyError"
    assert body["context"]["error"]["evalue"] == "'missing'"
    assert "{}['missing']" in body["context"]["notebook"]
    shell.run_line_magic("assist", "--fix why does it fail")
    body = api.requests[-1][2]
    assert (body["action"], body["message"]) == ("fix_error", "why does it fail")
    assert body["context"]["error"]["ename"] == "KeyError"


def test_assist_says_why_it_cannot_answer(
    shell: InteractiveShell,
    api: FakeApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.chat_status = 429
    shell.run_cell_magic("assist", "", "hello")
    assert "allows 100 assistant requests a day" in capsys.readouterr().err
    monkeypatch.delenv("DATAZENTR_API_URL")
    shell.run_cell_magic("assist", "", "hello")
    assert "not started by the DATAZENtr hub" in capsys.readouterr().err
    shell.run_cell_magic("assist", "--bogus", "hello")
    assert "Unknown option --bogus" in capsys.readouterr().out


def test_patterns_search_shows_a_table(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[Any] = []
    shell.display_pub.publish = lambda data, **kwargs: shown.append(data)  # type: ignore[method-assign]
    shell.run_line_magic("patterns", 'search "write a file" atomically')
    assert api.requests[-1] == (
        "POST",
        "patterns/search",
        {"query": "write a file atomically", "limit": 10},
    )
    [data] = shown
    assert "<td>Atomic file write</td>" in data["text/html"]
    assert "&lt;b&gt;(similarity 0.71)&lt;/b&gt;" in data["text/html"]  # escaped
    assert f" 1. Atomic file write [python]  {PATTERN_ID}" in data["text/plain"]


def test_patterns_insert_puts_the_code_in_the_next_cell_and_feedback_uses_it(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("patterns", f"insert {PATTERN_ID}")
    assert shell.rl_next_input == "import os\n\ndef write(path, data):\n    ..."
    assert "Inserted 'Atomic file write' into the next cell" in capsys.readouterr().out
    shell.run_line_magic("patterns", f"feedback {PATTERN_ID} worked")
    assert api.requests[-1] == (
        "POST",
        f"patterns/{PATTERN_ID}/feedback",
        {"outcome": "passed", "use_id": USE_ID},
    )
    shell.run_line_magic("patterns", f"feedback {PATTERN_ID} failed")  # no use left: a vote
    assert api.requests[-1][2] == {"outcome": "thumbs_down"}
    assert "1 successes" in capsys.readouterr().out


def test_patterns_usage_and_api_errors(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("patterns", "")
    assert capsys.readouterr().out.startswith("Usage: %patterns search")
    shell.run_line_magic("patterns", f"insert {uuid.uuid4()}")
    assert "No pattern patterns/" in capsys.readouterr().err


def test_magics_work_while_the_kernels_event_loop_runs(
    shell: InteractiveShell, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    async def cell() -> None:  # a kernel calls magics from its main thread, its loop running
        shell.run_cell_magic("assist", "--new", "How do I read a CSV file?")
        shell.run_line_magic("patterns", f"feedback {PATTERN_ID} worked")

    asyncio.run(cell())
    out = capsys.readouterr().out
    assert "**Offline answer**: use pandas." in out
    assert "1 successes" in out


def test_an_unreachable_api_is_said_plainly(
    shell: InteractiveShell,
    api: FakeApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def platform_api(timeout: float) -> PlatformApi:
        return PlatformApi(timeout=timeout, transport=httpx.MockTransport(refuse))

    monkeypatch.setattr(extensions.magics, "platform_api", platform_api)
    shell.run_cell_magic("assist", "", "hello")
    shell.run_line_magic("patterns", "search csv")
    unreachable = (
        "The platform api cannot be reached (ConnectError). Try again in a moment; if it "
        "persists, ask the platform's operator."
    )
    assert capsys.readouterr().err.splitlines() == [unreachable, unreachable]
