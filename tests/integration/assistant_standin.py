"""A stand-in for the platform api's assistant endpoints (the contract of issue #6), on
loopback, for the server extension's tests and the completion benchmark."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

TOKEN = "standin-user-token-0123456789"
OTHER_USERS_CONVERSATION = "00000000-0000-4000-8000-000000000099"


@dataclass
class StandInState:
    engine: str = "offline"
    model: str | None = None
    delay: float = 0.3
    chats: list[dict[str, Any]] = field(default_factory=list)
    completions: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def standin_api(state: StandInState) -> FastAPI:
    app = FastAPI()

    def refused(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"token {TOKEN}":
            return JSONResponse(
                {"error": {"status": 403, "code": "forbidden", "message": "bad token"}}, 403
            )
        return None

    @app.get("/assistant/status")
    async def status(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        return JSONResponse(
            {
                "engine": state.engine,
                "model": state.model,
                "model_reachable": state.engine == "model" or None,
                "requests_used_today": len(state.chats),
                "requests_per_day": 100,
            }
        )

    @app.post("/assistant/chat")
    async def chat(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        body = await request.json()
        state.chats.append(body)

        async def lines() -> AsyncIterator[str]:
            yield (
                json.dumps(
                    {
                        "type": "start",
                        "conversation_id": state.conversation_id,
                        "message_id": str(uuid.uuid4()),
                        "engine": "offline",
                        "model": None,
                    }
                )
                + "\n"
            )
            for word in ["Use ", "pandas.", "read_csv", "."]:
                await asyncio.sleep(state.delay)
                yield json.dumps({"type": "delta", "text": word}) + "\n"
            yield (
                json.dumps(
                    {
                        "type": "done",
                        "engine": "offline",
                        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
                    }
                )
                + "\n"
            )

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/assistant/conversations")
    async def conversations(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        return JSONResponse(
            {
                "conversations": [
                    {
                        "id": state.conversation_id,
                        "title": "CSV",
                        "message_count": 2,
                        "created_at": "2026-11-23T00:00:00Z",
                        "updated_at": "2026-11-23T00:00:00Z",
                    }
                ]
            }
        )

    @app.get("/assistant/conversations/{conversation_id}")
    async def conversation(conversation_id: str, request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        if conversation_id != state.conversation_id:
            return JSONResponse(
                {"error": {"status": 404, "code": "not_found", "message": "No such conversation."}},
                404,
            )
        return JSONResponse({"id": conversation_id, "title": "CSV", "messages": []})

    @app.post("/assistant/complete")
    async def complete(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        body = await request.json()
        state.completions.append(body)
        return JSONResponse({"items": [{"insertText": "_from_model()"}], "engine": "model"})

    @app.post("/assistant/notebook")
    async def notebook(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        body = await request.json()
        return JSONResponse(
            {
                "title": "Sales by month",
                "engine": "offline",
                "notebook": {
                    "nbformat": 4,
                    "nbformat_minor": 5,
                    "metadata": {},
                    "cells": [
                        {
                            "cell_type": "markdown",
                            "id": "a1",
                            "metadata": {},
                            "source": f"# Sales by month\n\n{body['description']}",
                        },
                        {
                            "cell_type": "code",
                            "id": "a2",
                            "metadata": {},
                            "outputs": [],
                            "execution_count": None,
                            "source": "import pandas as pd",
                        },
                    ],
                },
            }
        )

    return app
