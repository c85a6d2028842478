"""A reader who leaves in the middle of a streamed answer loses nothing.

The api runs under uvicorn on loopback (an in-process transport cannot disconnect), the model
is the local fake sending its parts 0.2 s apart, and the reader closes the connection after
the second part.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.assistant.chat import INTERRUPTED_NOTE
from api.core.config import Settings
from api.main import create_app
from tests.support.api import PREFIX
from tests.support.asgi import serve_app
from tests.support.fake_openai import KEY, fake_openai_app
from tests.support.identity import AnyUserIdentity, as_user, fresh_user

PARTS = [f"step {n}. " for n in range(1, 21)]


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    app, _, _ = fake_openai_app(scripts={"long-slowly": lambda body: PARTS})
    with serve_app(app) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def api_url(pg_settings: Settings, assistant_url: str, model_url: str) -> Iterator[str]:
    settings = Settings(
        _env_file=None,
        data_dir=pg_settings.data_dir,
        database_url=assistant_url,
        llm_base_url=model_url,
        llm_model="long-slowly",
        llm_api_key=KEY,
    )
    app = create_app(settings, identity=AnyUserIdentity())
    with serve_app(app, lifespan=True) as url:
        yield f"{url}{PREFIX}"


async def test_an_answer_cut_short_by_the_reader_is_kept_and_counted(api_url: str) -> None:
    user = fresh_user("leaver")
    async with httpx.AsyncClient(base_url=api_url, headers=as_user(user), timeout=30) as api:
        received: list[dict[str, Any]] = []
        async with api.stream("POST", "/assistant/chat", json={"message": "Plan it"}) as reply:
            assert reply.status_code == 200
            async for text in reply.aiter_lines():
                received.append(json.loads(text))
                if sum(event["type"] == "delta" for event in received) == 2:
                    break  # the reader leaves: the connection closes mid-answer
        conversation_id = received[0]["conversation_id"]

        stored: list[dict[str, Any]] = []
        for _ in range(50):  # the server notices the disconnect within moments
            detail = await api.get(f"/assistant/conversations/{conversation_id}")
            stored = [m for m in detail.json()["messages"] if m["role"] == "assistant"]
            if stored:
                break
            await asyncio.sleep(0.1)
        assert len(stored) == 1, "the partial answer was not stored"
        content = stored[0]["content"]
        assert content.startswith("step 1. step 2. ") and content.endswith(INTERRUPTED_NOTE)
        assert "step 20." not in content
        assert stored[0]["engine"] == "model"

        status = (await api.get("/assistant/status")).json()
        assert status["requests_used_today"] == 1
        assert status["completion_tokens_today"] > 0
