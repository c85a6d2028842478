"""Which engine answers: the operator's model (when configured) or the offline engine."""

from __future__ import annotations

import time

import httpx

from api.core.config import Settings
from api.generation.llm import LLMProvider

# An assistant answer is interactive: fail over to the offline engine quickly.
RETRIES = 2
BACKOFF_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 2.0
# Status is asked often (every JupyterLab tab polls it): a hanging endpoint must not make
# every ask wait for the probe. Real requests to the model refresh what is known.
PROBE_CACHE_SECONDS = 15.0

_known: dict[str, tuple[float, bool]] = {}


def model_provider(settings: Settings) -> LLMProvider | None:
    provider = LLMProvider.from_settings(settings)
    if provider is not None:
        provider.max_retries = RETRIES
        provider.backoff_seconds = BACKOFF_SECONDS
    return provider


def engine_name(provider: LLMProvider | None) -> str:
    return "offline" if provider is None else "model"


def remember_reachability(provider: LLMProvider, reachable: bool) -> None:
    _known[provider.base_url] = (time.monotonic(), reachable)


async def model_reachable(provider: LLMProvider) -> bool:
    """Does anything answer HTTP at the model's base URL? Known outcomes (from a probe or a
    real request) count for :data:`PROBE_CACHE_SECONDS`."""
    known = _known.get(provider.base_url)
    if known is not None and time.monotonic() - known[0] < PROBE_CACHE_SECONDS:
        return known[1]
    reachable = await _probe(provider)
    remember_reachability(provider, reachable)
    return reachable


async def _probe(provider: LLMProvider) -> bool:
    """Any HTTP status counts: something is there."""
    try:
        async with httpx.AsyncClient(
            timeout=PROBE_TIMEOUT_SECONDS, transport=provider.transport
        ) as client:
            await client.get(f"{provider.base_url}/models", headers=provider._headers())
    except httpx.HTTPError:
        return False
    return True
