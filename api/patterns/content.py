"""What a pattern's content may be, and the text its embedding is computed from."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from api.models.pattern import KINDS, VISIBILITIES

Language = Literal[
    "python",
    "javascript",
    "typescript",
    "sql",
    "bash",
    "yaml",
    "toml",
    "json",
    "dockerfile",
    "markdown",
    "html",
    "css",
    "go",
    "rust",
    "java",
    "r",
    "notebook",
    "text",
]
LANGUAGES: tuple[str, ...] = get_args(Language)

MAX_FILES = 50
MAX_CONTENT_CHARS = 200_000  # all files of one pattern together
MAX_QUERY_CHARS = 1_000
TAG_SHAPE = re.compile(r"[a-z0-9][a-z0-9+#.-]{0,39}")
PATH_SHAPE = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./ -]{0,199}")

# The embedding sees what a person would read first; the model reads 256 word pieces.
EMBEDDED_CODE_CHARS = 600

__all__ = ["KINDS", "LANGUAGES", "VISIBILITIES", "embedding_text"]


def check_path(path: str) -> str:
    if not PATH_SHAPE.fullmatch(path) or ".." in path.split("/") or path.startswith("/"):
        raise ValueError(f"{path!r} is not a relative file path (letters, digits, _ . - /)")
    return path


def check_tag(tag: str) -> str:
    if not TAG_SHAPE.fullmatch(tag):
        raise ValueError(
            f"tag {tag!r} must be lowercase letters, digits or + # . - (at most 40 characters)"
        )
    return tag


def embedding_text(
    *,
    title: str,
    description: str,
    tags: Iterable[str],
    language: str,
    kind: str,
    files: Iterable[Mapping[str, Any]],
) -> str:
    code = "\n".join(str(f.get("content", "")) for f in files)[:EMBEDDED_CODE_CHARS]
    kind_words = kind.replace("_", " ")
    return f"{title}. {description}\nTags: {', '.join(tags)}. {language} {kind_words}.\n{code}"
