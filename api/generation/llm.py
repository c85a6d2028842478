"""``LLMProvider``: the OpenAI-compatible chat-completions API (OpenAI, vLLM, Ollama,
llama.cpp server, LiteLLM), configured by the operator only.

Streaming (server-sent ``data:`` chunks), a timeout per request, retries with backoff on
429 and 5xx (``Retry-After`` honoured), token accounting from the reply's ``usage`` (or an
estimate when the server sends none), and a per-job :class:`TokenBudget` that stops a
runaway job before it spends more.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.core.config import Settings
from api.errors import ApiError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class LLMError(ApiError):
    status = 502
    code = "llm_error"


class LLMTimeout(LLMError):
    code = "llm_timeout"


class LLMMalformedReply(LLMError):
    code = "llm_malformed_reply"


class TokenBudgetExceeded(LLMError):
    status = 429
    code = "token_budget_exceeded"


@dataclass
class TokenBudget:
    limit: int
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def check(self) -> None:
        if self.used >= self.limit:
            raise TokenBudgetExceeded(
                f"This job used {self.used} tokens of its budget of {self.limit}; it stops here."
            )

    def spend(self, tokens: int) -> None:
        self.used += tokens


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    chunks: int = 0
    raw_usage: dict[str, Any] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class LLMProvider:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.transport = transport

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMProvider | None:
        if settings.llm_base_url is None:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            api_key=key,
            timeout=settings.llm_timeout_seconds,
        )

    @property
    def name(self) -> str:
        return f"llm:{self.model}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        budget: TokenBudget | None = None,
        max_tokens: int = 4000,
        temperature: float = 0.2,
    ) -> Completion:
        """The whole reply, gathered from the same stream :func:`stream_text` reads."""
        if budget is not None:
            budget.check()
            max_tokens = min(max_tokens, budget.remaining)
        usage = StreamUsage()
        deltas = stream_text(self, messages, usage, max_tokens=max_tokens, temperature=temperature)
        text = "".join([delta async for delta in deltas])
        completion = Completion(
            text=text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            model=usage.model,
            chunks=usage.chunks,
            raw_usage=usage.reported,
        )
        if budget is not None:
            budget.spend(completion.total_tokens)
        return completion


class _Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        if line.startswith("data:"):
            yield line[5:].strip()
        elif line.strip() and not line.startswith((":", "event:", "id:", "retry:")):
            raise LLMMalformedReply(
                f"The model API's reply is not a stream of events: {line[:120]!r}"
            )


@dataclass
class StreamUsage:
    """Filled in by :meth:`LLMProvider.stream_text` when its stream ends."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    chunks: int = 0
    reported: dict[str, Any] = field(default_factory=dict)


async def _stream_text(
    provider: LLMProvider,
    messages: list[dict[str, str]],
    usage: StreamUsage,
    *,
    max_tokens: int,
    temperature: float,
) -> AsyncIterator[str]:
    body = {
        "model": provider.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": temperature,
    }
    url = f"{provider.base_url}/chat/completions"
    attempt = 0
    while True:
        attempt += 1
        parts: list[str] = []
        reported: dict[str, Any] = {}
        try:
            async with (
                httpx.AsyncClient(timeout=provider.timeout, transport=provider.transport) as client,
                client.stream("POST", url, json=body, headers=provider._headers()) as response,
            ):
                if response.status_code in RETRY_STATUSES:
                    retry_after = response.headers.get("retry-after", "")
                    raise _Retryable(
                        response.status_code, float(retry_after) if retry_after.isdigit() else None
                    )
                if response.status_code >= 400:
                    text = (await response.aread()).decode(errors="replace")[:300]
                    raise LLMError(
                        f"The model API refused the request ({response.status_code}): {text}"
                    )
                usage.model = provider.model
                chunks = 0
                async for data in _sse_data(response.aiter_lines()):
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                        if chunk.get("usage"):
                            reported = chunk["usage"]
                        usage.model = str(chunk.get("model") or usage.model)
                        deltas = [
                            str((choice.get("delta") or {}).get("content") or "")
                            for choice in chunk.get("choices") or []
                        ]
                    except (ValueError, AttributeError, TypeError) as exc:
                        raise LLMMalformedReply(
                            f"The model API sent something that is not a chat-completion chunk: "
                            f"{data[:120]!r}"
                        ) from exc
                    chunks += 1
                    for delta in deltas:
                        if delta:
                            parts.append(delta)
                            yield delta
                if chunks == 0:
                    raise LLMMalformedReply("The model API's reply had no chat-completion chunks.")
                usage.chunks = chunks
            break
        except httpx.TimeoutException as exc:
            raise LLMTimeout(
                f"The model API did not answer within {provider.timeout:.0f} s."
            ) from exc
        except (httpx.TransportError, _Retryable) as exc:
            status = exc.status if isinstance(exc, _Retryable) else 0
            # Retry only before anything was handed out: a caller never sees text twice.
            if parts or attempt > provider.max_retries:
                reason = "could not be reached" if status == 0 else f"kept failing ({status})"
                raise LLMUnavailable(
                    f"The model API {reason} after {attempt} attempts.", status=status
                ) from None
            wait = (exc.retry_after if isinstance(exc, _Retryable) else None) or (
                provider.backoff_seconds * 2 ** (attempt - 1)
            )
            log.warning("model API answered %s; retry %d in %.1f s", status, attempt, wait)
            await asyncio.sleep(wait)
    text = "".join(parts)
    prompt = reported.get("prompt_tokens")
    completion = reported.get("completion_tokens")
    usage.prompt_tokens = (
        int(prompt)
        if prompt is not None
        else estimate_tokens("".join(m["content"] for m in messages))
    )
    usage.completion_tokens = int(completion) if completion is not None else estimate_tokens(text)
    usage.reported = reported


class LLMUnavailable(LLMError):
    """The model API could not be reached, or kept answering 429/5xx (``status`` 0: no answer)."""

    code = "llm_unavailable"

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.upstream_status = status


def stream_text(
    provider: LLMProvider,
    messages: list[dict[str, str]],
    usage: StreamUsage,
    *,
    max_tokens: int = 1500,
    temperature: float = 0.2,
) -> AsyncIterator[str]:
    """The reply's text deltas as they arrive; ``usage`` holds the token counts at the end.

    Retries (429/5xx/connection) happen only before the first delta. Failures raise
    :class:`LLMUnavailable`, :class:`LLMTimeout`, :class:`LLMMalformedReply` or ``LLMError``.
    """
    return _stream_text(provider, messages, usage, max_tokens=max_tokens, temperature=temperature)
