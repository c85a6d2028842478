"""Reading the assistant's streamed answers (newline-delimited JSON events)."""

from __future__ import annotations

import json
from typing import Any


def ndjson(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def answer_text(events: list[dict[str, Any]]) -> str:
    """The answer as the reader sees it: every delta's text, in order."""
    return "".join(e["text"] for e in events if e["type"] == "delta")
