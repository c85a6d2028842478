"""Notebooks from a description: an outline, then markdown and code cells, valid nbformat v4."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import nbformat

from api.assistant.offline import main_code
from api.assistant.prompts import strip_fences
from api.patterns.search import SearchHit

TITLE_CHARS = 80
MAX_CELLS = 60


class NotebookReplyInvalid(ValueError):
    """The model's notebook was not the JSON asked for."""


def title_from(description: str) -> str:
    first = " ".join(description.split()).split(". ")[0].rstrip(".")
    if len(first) > TITLE_CHARS:
        first = first[: TITLE_CHARS - 1].rstrip() + "…"
    return first[:1].upper() + first[1:] if first else "Notebook"


def markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": uuid.uuid4().hex[:8], "metadata": {}, "source": source}


def code_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": uuid.uuid4().hex[:8],
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def _finish(cells: list[dict[str, Any]], title: str, engine: str) -> dict[str, Any]:
    notebook: dict[str, Any] = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            },
            "language_info": {"name": "python"},
            "datazentr": {"engine": engine, "title": title},
        },
        "cells": cells,
    }
    nbformat.validate(notebook)  # raises when the builder ever makes an invalid notebook
    return notebook


def _code_cell_for(hit: SearchHit) -> str:
    pattern = hit.pattern
    code = main_code(pattern)
    if pattern.language == "python":
        return code.rstrip("\n")
    # Other languages become files the notebook writes next to itself.
    path = str((pattern.files or [{}])[0].get("path", f"{pattern.language}.txt"))
    return f"%%writefile {path}\n{code}".rstrip("\n")


def offline_notebook(description: str, hits: Sequence[SearchHit]) -> tuple[str, dict[str, Any]]:
    title = title_from(description)
    steps = [hit.pattern.title for hit in hits]
    outline = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))
    cells = [
        markdown_cell(
            f"# {title}\n\n{description}\n\n*Built by the offline engine from the pattern "
            "library (no model answered): adapt the cells to your data.*"
        ),
        markdown_cell(
            "## Outline\n\n" + (outline or "No pattern of the library matched this description.")
        ),
    ]
    for n, hit in enumerate(hits, start=1):
        pattern = hit.pattern
        cells.append(
            markdown_cell(
                f"## {n}. {pattern.title}\n\n{pattern.description}\n\n"
                f"*Pattern `{pattern.id}` — {hit.ranked.summary()}*"
            )
        )
        cells.append(code_cell(_code_cell_for(hit)))
    cells.append(
        markdown_cell(
            "## Next steps\n\nRun the cells from the top, then replace the examples with "
            "your own data. Report whether a pattern worked in the Patterns panel."
        )
    )
    return title, _finish(cells, title, "offline")


def model_notebook(description: str, reply: str) -> tuple[str, dict[str, Any]]:
    """The model's JSON reply as a notebook; raises NotebookReplyInvalid when unusable."""
    try:
        data = json.loads(strip_fences(reply))
    except ValueError as exc:
        raise NotebookReplyInvalid(f"the model's notebook is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookReplyInvalid("the model's notebook has no list of cells")
    cells: list[dict[str, Any]] = []
    for cell in data["cells"][:MAX_CELLS]:
        if not isinstance(cell, dict) or not isinstance(cell.get("source"), str):
            raise NotebookReplyInvalid("a cell of the model's notebook has no source text")
        if cell.get("type") == "code":
            cells.append(code_cell(cell["source"]))
        else:
            cells.append(markdown_cell(cell["source"]))
    if not cells:
        raise NotebookReplyInvalid("the model's notebook has no cells")
    title = str(data.get("title") or "").strip()[:TITLE_CHARS] or title_from(description)
    return title, _finish(cells, title, "model")
