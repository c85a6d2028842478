"""The embedders: the offline model (real, loaded once) and the OpenAI-compatible client."""

from __future__ import annotations

import json
from typing import get_args

import httpx
import numpy as np
import pytest

from api.core.config import Settings
from api.models.pattern import KINDS
from api.patterns.content import LANGUAGES, Language
from api.patterns.embedder import (
    EmbedderError,
    MiniLMEmbedder,
    OpenAICompatibleEmbedder,
    get_embedder,
)
from api.schemas.patterns import Kind


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    embedder = get_embedder(Settings(_env_file=None))
    assert isinstance(embedder, MiniLMEmbedder)
    return embedder


def test_offline_model_gives_unit_vectors_in_order(minilm: MiniLMEmbedder) -> None:
    texts = ["retry an HTTP request", "x" * 5000, "bake a chocolate cake", "retry HTTP calls"]
    vectors = minilm.embed(texts)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar = float(vectors[0] @ vectors[3])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > 0.7 > unrelated
    alone = minilm.embed([texts[2]])[0]  # batching and padding do not change a vector
    assert float(alone @ vectors[2]) > 0.9999
    assert minilm.embed([]).shape == (0, 384)


def test_embedder_is_built_once_per_process() -> None:
    settings = Settings(_env_file=None)
    assert get_embedder(settings) is get_embedder(settings)


def _endpoint(dimension: int, calls: list[dict[str, object]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body | {"auth": request.headers.get("authorization")})
        data = [
            {"index": i, "embedding": [float(i + 1)] * dimension}
            for i in reversed(range(len(body["input"])))
        ]
        return httpx.Response(200, json={"data": data})

    return httpx.MockTransport(handler)


def test_openai_compatible_endpoint() -> None:
    calls: list[dict[str, object]] = []
    embedder = OpenAICompatibleEmbedder(
        "http://llm.local/v1", "nomic", api_key="k", transport=_endpoint(384, calls)
    )
    vectors = embedder.embed(["a", "b"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert calls[0]["dimensions"] == 384 and calls[0]["model"] == "nomic"
    assert calls[0]["auth"] == "Bearer k"
    assert embedder.model_id == "openai:nomic"


def test_openai_compatible_wrong_dimension_or_outage_is_a_clear_error() -> None:
    wrong = OpenAICompatibleEmbedder("http://x/v1", "m", transport=_endpoint(1536, []))
    with pytest.raises(EmbedderError, match="returned 1536 dimensions"):
        wrong.embed(["a"])
    down = OpenAICompatibleEmbedder(
        "http://x/v1", "m", transport=httpx.MockTransport(lambda r: httpx.Response(502))
    )
    with pytest.raises(EmbedderError, match="endpoint failed"):
        down.embed(["a"])


def test_openai_embedder_needs_a_url() -> None:
    settings = Settings(_env_file=None, embedder="openai")
    with pytest.raises(EmbedderError, match="EMBEDDINGS_URL"):
        get_embedder(settings)


def test_schema_enums_match_the_model() -> None:
    assert set(get_args(Kind)) == set(KINDS)
    assert set(get_args(Language)) == set(LANGUAGES)
