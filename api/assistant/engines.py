"""Which engine answers: the operator's model (when configured) or the offline engine."""

from __future__ import annotations

import httpx

from api.core.config import Settings
from api.generation.llm import LLMProvider

# An assistant answer is interactive: fail over to the offline engine quickly.
RETRIES = 2
BACKOFF_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 2.0


def model_provider(settings: Settings) -> LLMProvider | None:
    provider = LLMProvider.from_settings(settings)
    if provider is not None:
        provider.max_retries = RETRIES
        provider.backoff_seconds = BACKOFF_SECONDS
    return provider


def engine_name(provider: LLMProvider | None) -> str:
    return "offline" if provider is None else "model"


async def model_reachable(provider: LLMProvider) -> bool:
    """Does anything answer HTTP at the model's base URL? (Any status counts: it is there.)"""
    try:
        async with httpx.AsyncClient(
            timeout=PROBE_TIMEOUT_SECONDS, transport=provider.transport
        ) as client:
            await client.get(f"{provider.base_url}/models", headers=provider._headers())
    except httpx.HTTPError:
        return False
    return True
