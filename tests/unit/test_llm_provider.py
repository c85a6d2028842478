"""Contract tests of ``LLMProvider`` against a small OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi import FastAPI

from api.generation.agents.base import ProjectInfo, StepContext
from api.generation.agents.repair import Repairer
from api.generation.llm import (
    LLMError,
    LLMMalformedReply,
    LLMProvider,
    LLMTimeout,
    TokenBudget,
    TokenBudgetExceeded,
)
from tests.support.asgi import serve_app
from tests.support.fake_openai import KEY, fake_openai_app

FIXED_CALC = "def add(a, b):\n    return a + b\n"


def fake_openai() -> tuple[FastAPI, Counter[str], list[dict[str, Any]]]:
    def repair(body: dict[str, Any]) -> list[str]:
        return [json.dumps({"files": {"calc.py": FIXED_CALC, "../escape.py": "x = 1\n"}})]

    return fake_openai_app(scripts={"repair": repair})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Counter[str], list[dict[str, Any]]]]:
    app, calls, bodies = fake_openai()
    with serve_app(app) as url:
        yield f"{url}/v1", calls, bodies


def provider(url: str, model: str, **kwargs: Any) -> LLMProvider:
    return LLMProvider(url, model, api_key=KEY, backoff_seconds=0.01, **kwargs)


MESSAGES = [{"role": "user", "content": "say hello"}]


async def test_streaming_reply_and_token_accounting(server: Any) -> None:
    url, _, bodies = server
    reply = await provider(url, "ok").complete(MESSAGES, max_tokens=50)
    assert reply.text == "Hello world"
    assert (reply.prompt_tokens, reply.completion_tokens, reply.total_tokens) == (12, 3, 15)
    assert reply.chunks == 4 and reply.model == "fake-1"
    assert bodies[-1]["stream"] is True and bodies[-1]["max_tokens"] == 50


async def test_tokens_are_estimated_when_the_server_sends_no_usage(server: Any) -> None:
    url, _, _ = server
    reply = await provider(url, "no-usage").complete(MESSAGES)
    assert reply.text == "Hello world" and reply.completion_tokens > 0 and reply.prompt_tokens > 0


@pytest.mark.parametrize(("model", "calls"), [("flaky-429", 2), ("flaky-500", 3)])
async def test_429_and_500_are_retried(server: Any, model: str, calls: int) -> None:
    url, counter, _ = server
    reply = await provider(url, model).complete(MESSAGES)
    assert reply.text == "Hello world" and counter[model] == calls


async def test_retries_are_bounded(server: Any) -> None:
    url, counter, _ = server
    with pytest.raises(LLMError, match="kept failing"):
        await provider(url, "always-500", max_retries=2).complete(MESSAGES)
    assert counter["always-500"] == 3


async def test_timeout_is_a_clear_error(server: Any) -> None:
    url, _, _ = server
    with pytest.raises(LLMTimeout, match="did not answer within"):
        await provider(url, "slow", timeout=0.5).complete(MESSAGES)


@pytest.mark.parametrize("model", ["malformed", "html"])
async def test_malformed_reply_is_a_clear_error(server: Any, model: str) -> None:
    url, _, _ = server
    with pytest.raises(LLMMalformedReply, match="model API"):
        await provider(url, model).complete(MESSAGES)


async def test_a_refused_key_is_not_retried(server: Any) -> None:
    url, _, _ = server
    bad = LLMProvider(url, "ok", api_key="wrong-key")
    with pytest.raises(LLMError, match="refused the request \\(401\\)"):
        await bad.complete(MESSAGES)


async def test_the_token_budget_stops_a_runaway_job(server: Any) -> None:
    url, _, bodies = server
    budget = TokenBudget(limit=20)
    await provider(url, "ok").complete(MESSAGES, budget=budget)
    assert budget.used == 15 and bodies[-1]["max_tokens"] == 20
    await provider(url, "ok").complete(MESSAGES, budget=budget)
    with pytest.raises(TokenBudgetExceeded, match="30 tokens of its budget of 20"):
        await provider(url, "ok").complete(MESSAGES, budget=budget)


async def test_failing_gates_are_repaired_by_the_model(server: Any) -> None:
    url, _, _ = server
    files = {
        "calc.py": "def add(a, b):\n    return a - b\n",
        "tests/test_calc.py": (
            "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
        ),
    }
    context = StepContext(
        project=ProjectInfo(cast(Any, None), "ada", None, "calc", {}),
        database=cast(Any, None),
        embedder=cast(Any, None),
        files=files,
        llm=provider(url, "repair"),
        budget=TokenBudget(1000),
    )
    context.outputs["quality_gates"] = {
        "passed": False,
        "gates": {"syntax": True, "tests": False, "security": True},
        "reports": {"tests": "assert -1 == 5"},
    }
    outcome = await Repairer().run(context)
    assert outcome.outputs == {"passed": True, "rounds": 1, "changed": ["calc.py"]}
    assert outcome.files == {"calc.py": FIXED_CALC}  # ../escape.py was refused
    assert outcome.tokens == 15 and all(g["passed"] for g in outcome.gates)
    context.llm = None
    offline = await Repairer().run(context)
    assert offline.outputs["passed"] is False and "no model configured" in offline.decision
