"""A small OpenAI-compatible chat-completions server on loopback, for contract tests.

It speaks the real wire format (SSE chunks, ``usage`` in the last chunk, ``[DONE]``) and
misbehaves on request, by model name:

- ``flaky-429`` answers 429 once, ``flaky-500`` 500 twice, ``always-500`` always;
- ``slow`` waits 3 s, ``malformed`` sends broken JSON, ``html`` sends a web page;
- ``hang`` never answers: it waits until the client drops the request (at most
  ``HANG_SECONDS``) and counts that under ``"hang:dropped"``;
- ``no-usage`` leaves out the token counts;
- any name in ``scripts`` replies with the parts its function returns for the request body;
  a name ending in ``-slowly`` sends them 0.2 s apart;
- every other model answers "Hello world".

Requests must carry ``Authorization: Bearer KEY``. Serve it with ``tests.support.asgi.serve_app``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

KEY = "test-key-0123456789"
HANG_SECONDS = 300.0

Script = Callable[[dict[str, Any]], list[str]]


def chunk(content: str | None = None, usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"object": "chat.completion.chunk", "model": "fake-1", "choices": []}
    if content is not None:
        body["choices"] = [{"index": 0, "delta": {"content": content}}]
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def fake_openai_app(
    scripts: dict[str, Script] | None = None,
) -> tuple[FastAPI, Counter[str], list[dict[str, Any]]]:
    """The app, a count of calls per model, and every request body received."""
    app = FastAPI()
    calls: Counter[str] = Counter()
    bodies: list[dict[str, Any]] = []
    scripts = scripts or {}

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        body = await request.json()
        bodies.append(body)
        model = body["model"]
        calls[model] += 1
        if model == "flaky-429" and calls[model] == 1:
            return JSONResponse({"error": {"message": "slow down"}}, 429, {"Retry-After": "0"})
        if (model == "flaky-500" and calls[model] <= 2) or model == "always-500":
            return JSONResponse({"error": {"message": "oops"}}, status_code=500)
        if model == "slow":
            await asyncio.sleep(3)
        if model == "hang":
            deadline = time.monotonic() + HANG_SECONDS
            while time.monotonic() < deadline:
                if await request.is_disconnected():
                    calls["hang:dropped"] += 1
                    break
                await asyncio.sleep(0.05)
            return Response(status_code=504)
        if model == "malformed":
            return Response("data: {not json\n\n", media_type="text/event-stream")
        if model == "html":
            return Response("<html>hello</html>", media_type="text/html")
        text = scripts[model](body) if model in scripts else ["Hel", "lo", " world"]
        usage = None if model == "no-usage" else {"prompt_tokens": 12, "completion_tokens": 3}

        async def stream() -> AsyncIterator[str]:
            for part in text:
                if model.endswith("-slowly"):
                    await asyncio.sleep(0.2)
                yield chunk(part)
            yield chunk(usage=usage) if usage else ""
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app, calls, bodies
