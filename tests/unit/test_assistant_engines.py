"""The model's reachability, as status reports it: probed at most every few seconds."""

from __future__ import annotations

import httpx

from api.assistant import engines
from api.generation.llm import LLMProvider


def counting_provider(url: str, answers: bool) -> tuple[LLMProvider, list[str]]:
    probes: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        probes.append(str(request.url))
        if not answers:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404)

    provider = LLMProvider(url, "m", transport=httpx.MockTransport(handle))
    return provider, probes


async def test_a_known_outcome_spares_the_probe() -> None:
    provider, probes = counting_provider("http://model-a.test/v1", answers=True)
    assert await engines.model_reachable(provider) is True  # any status: it is there
    assert await engines.model_reachable(provider) is True
    assert probes == ["http://model-a.test/v1/models"]


async def test_an_endpoint_that_refuses_is_unreachable_until_a_request_succeeds() -> None:
    provider, probes = counting_provider("http://model-b.test/v1", answers=False)
    assert await engines.model_reachable(provider) is False
    assert await engines.model_reachable(provider) is False
    assert len(probes) == 1
    engines.remember_reachability(provider, True)  # a real request got through
    assert await engines.model_reachable(provider) is True
    assert len(probes) == 1


async def test_outcomes_expire() -> None:
    provider, probes = counting_provider("http://model-c.test/v1", answers=True)
    engines.PROBE_CACHE_SECONDS, saved = 0.0, engines.PROBE_CACHE_SECONDS
    try:
        await engines.model_reachable(provider)
        await engines.model_reachable(provider)
    finally:
        engines.PROBE_CACHE_SECONDS = saved
    assert len(probes) == 2
