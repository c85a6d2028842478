"""``stream_text``: the model's reply as text deltas, as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.generation.llm import (
    LLMError,
    LLMProvider,
    LLMUnavailable,
    StreamUsage,
    stream_text,
)
from tests.support.asgi import serve_app
from tests.support.fake_openai import KEY, chunk, fake_openai_app
from tests.support.network import free_port

MESSAGES = [{"role": "user", "content": "say hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app, _, _ = fake_openai_app(scripts={"parts": lambda body: ["a", "b", "c"]})
    with serve_app(app) as url:
        yield f"{url}/v1"


def provider(url: str, model: str, **kwargs: Any) -> LLMProvider:
    return LLMProvider(url, model, api_key=KEY, backoff_seconds=0.01, **kwargs)


async def collect(p: LLMProvider, usage: StreamUsage) -> list[str]:
    return [delta async for delta in stream_text(p, MESSAGES, usage, max_tokens=20)]


async def test_deltas_and_usage(server: str) -> None:
    usage = StreamUsage()
    assert await collect(provider(server, "parts"), usage) == ["a", "b", "c"]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.model) == (12, 3, "fake-1")


async def test_retried_before_the_first_delta(server: str) -> None:
    usage = StreamUsage()
    assert "".join(await collect(provider(server, "flaky-429"), usage)) == "Hello world"


async def test_estimates_tokens_without_usage(server: str) -> None:
    usage = StreamUsage()
    await collect(provider(server, "no-usage"), usage)
    assert usage.prompt_tokens >= 1 and usage.completion_tokens >= 1


async def test_unavailable_after_retries(server: str) -> None:
    with pytest.raises(LLMUnavailable, match=r"kept failing \(500\) after 3 attempts"):
        await collect(provider(server, "always-500", max_retries=2), StreamUsage())
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMUnavailable, match="could not be reached") as caught:
        await collect(provider(down, "x", max_retries=1), StreamUsage())
    assert caught.value.upstream_status == 0


async def test_a_refusal_is_not_retried(server: str) -> None:
    with pytest.raises(LLMError, match="refused the request \\(401\\)"):
        p = LLMProvider(server, "parts", api_key="wrong", backoff_seconds=0.01)
        await collect(p, StreamUsage())


async def test_deltas_arrive_before_the_reply_ends() -> None:
    """The second chunk is sent only after the caller has seen the first one."""
    first_seen = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield chunk("first").encode()
        await asyncio.wait_for(first_seen.wait(), 5)
        yield chunk("second").encode()
        yield b"data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Stream(body()))

    p = LLMProvider("http://model/v1", "m", transport=httpx.MockTransport(handler))
    seen = []
    async for delta in stream_text(p, MESSAGES, StreamUsage()):
        seen.append(delta)
        first_seen.set()
    assert seen == ["first", "second"]


async def test_a_reply_that_breaks_off_is_not_retried() -> None:
    requests = 0

    async def body() -> AsyncIterator[bytes]:
        yield chunk("partial").encode()
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return httpx.Response(200, stream=_Stream(body()))

    p = LLMProvider("http://model/v1", "m", transport=httpx.MockTransport(handler))
    seen: list[str] = []
    with pytest.raises(LLMUnavailable):
        async for delta in stream_text(p, MESSAGES, StreamUsage()):
            seen.append(delta)
    assert seen == ["partial"] and requests == 1


class _Stream(httpx.AsyncByteStream):
    def __init__(self, parts: AsyncIterator[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.parts:
            yield part
