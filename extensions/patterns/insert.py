"""Put a pattern's code into a notebook (a new code cell) or a file (appended)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import ensure_async
from tornado import web


@dataclass(frozen=True)
class Inserted:
    path: str
    type: str  # "notebook" or "file"
    cell_index: int | None


def code_of(pattern: dict[str, Any]) -> str:
    """The pattern's main file: what a person inserts (its test stays in the library)."""
    files = pattern.get("files") or []
    if not files:
        raise ValueError("The pattern has no files to insert.")
    return str(files[0].get("content", "")).strip("\n") + "\n"


def notebook_source(pattern: dict[str, Any]) -> str:
    """Python as it is; other languages as a cell that writes the file next to the notebook."""
    code = code_of(pattern)
    if pattern.get("language") == "python":
        return code.rstrip("\n")
    path = str((pattern.get("files") or [{}])[0].get("path", "pattern.txt"))
    return f"%%writefile {path}\n{code}".rstrip("\n")


def code_cell(source: str, pattern: dict[str, Any]) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": uuid.uuid4().hex[:8],
        "metadata": {
            "datazentr": {"pattern_id": str(pattern.get("id")), "title": pattern.get("title")}
        },
        "outputs": [],
        "source": source,
    }


def new_notebook(cells: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        },
        "cells": cells,
    }


async def insert_pattern(
    contents: Any, path: str, pattern: dict[str, Any], cell_index: int | None
) -> Inserted:
    """Insert through the server's contents manager (which keeps paths inside the root)."""
    path = path.strip("/")
    exists = await ensure_async(contents.file_exists(path))
    if path.endswith(".ipynb"):
        cell = code_cell(notebook_source(pattern), pattern)
        if exists:
            model = await ensure_async(contents.get(path, content=True, type="notebook"))
            notebook = model["content"]
        else:
            notebook = new_notebook([])
        cells = notebook["cells"]
        index = len(cells) if cell_index is None else max(0, min(cell_index, len(cells)))
        cells.insert(index, cell)
        await ensure_async(contents.save({"type": "notebook", "content": notebook}, path))
        return Inserted(path, "notebook", index)
    if not exists and await ensure_async(contents.dir_exists(path)):
        raise web.HTTPError(400, f"{path} is a directory; give a file or notebook path.")
    code = code_of(pattern)
    text = ""
    if exists:
        model = await ensure_async(contents.get(path, content=True, type="file", format="text"))
        text = str(model["content"])
        if text and not text.endswith("\n"):
            text += "\n"
        if text:
            text += "\n"
    await ensure_async(
        contents.save({"type": "file", "format": "text", "content": text + code}, path)
    )
    return Inserted(path, "file", None)
