"""Asking the configured model for a step's work, and checking its reply before use.

A writing step asks for JSON: the architect for a plan, the code, test and doc writers for
``{"files": {"<path>": "<content>"}}``. A reply is used only when it is well-formed and
safe: paths relative and inside the project, a sane number and size of files. Anything
else raises :class:`UnusableReply` (or another :class:`~api.generation.llm.LLMError`),
and the step falls back to the offline engine, recording why.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from api.generation.agents.base import StepContext
from api.generation.llm import LLMError, LLMMalformedReply

T = TypeVar("T")

MAX_FILES = 40
MAX_FILE_CHARS = 100_000
MAX_TOTAL_CHARS = 400_000
MAX_PROMPT_FILE_CHARS = 40_000
RESERVED = (".gates/", ".git/")
SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


class UnusableReply(LLMMalformedReply):
    code = "llm_unusable_reply"


@dataclass
class ModelResult(Generic[T]):
    """What a model-written step got: the parsed value, or why it could not be used."""

    value: T | None
    tokens: int = 0
    model: str = ""
    failure: dict[str, Any] | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)


def json_object(text: str) -> dict[str, Any]:
    """The JSON object in a reply; a fenced code block around it is tolerated."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise UnusableReply(f"The model's reply is not a JSON object: {text[:120]!r}")
    try:
        value = json.loads(text[start : end + 1])
    except ValueError as exc:
        raise UnusableReply(f"The model's reply is not valid JSON ({exc}).") from exc
    if not isinstance(value, dict):
        raise UnusableReply("The model's reply is not a JSON object.")
    return value


def is_test(path: str) -> bool:
    name = posixpath.basename(path)
    return (
        path.startswith(("tests/", "test/"))
        or name.startswith("test_")
        or ".test." in name
        or name == "conftest.py"
    )


def check_path(path: object) -> str:
    if not isinstance(path, str) or not SAFE_PATH.match(path):
        raise UnusableReply(f"The model proposed a path outside the project or unsafe: {path!r}")
    if ".." in path.split("/") or path.startswith(RESERVED):
        raise UnusableReply(f"The model proposed a path outside the project: {path!r}")
    return path


def files_from(
    data: dict[str, Any], allowed: Callable[[str], bool] | None = None
) -> dict[str, str]:
    """Validate ``{"files": {path: content}}``; ``allowed`` limits what a step may write."""
    files = data.get("files")
    if not isinstance(files, dict) or not files:
        raise UnusableReply("The model's reply lacks a non-empty 'files' object.")
    if len(files) > MAX_FILES:
        raise UnusableReply(f"The model proposed {len(files)} files; at most {MAX_FILES}.")
    cleaned: dict[str, str] = {}
    total = 0
    for path, content in files.items():
        check_path(path)
        if not isinstance(content, str):
            raise UnusableReply(f"The content of {path!r} is not a string.")
        if len(content) > MAX_FILE_CHARS:
            raise UnusableReply(
                f"{path!r} has {len(content)} characters; at most {MAX_FILE_CHARS}."
            )
        if allowed is not None and not allowed(path):
            raise UnusableReply(f"This step may not write {path!r}.")
        total += len(content)
        cleaned[path] = content
    if total > MAX_TOTAL_CHARS:
        raise UnusableReply(
            f"The model's files total {total} characters; at most {MAX_TOTAL_CHARS}."
        )
    return cleaned


def string_list(value: object, what: str, *, limit: int = 20) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnusableReply(f"The plan's {what!r} must be a list of strings.")
    return [v[:500] for v in value[:limit]]


def plan_from(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the architect's plan: components, files, decisions."""
    components = data.get("components")
    if not isinstance(components, list) or not components:
        raise UnusableReply("The plan lacks a non-empty 'components' list.")
    checked = []
    for component in components[:10]:
        if not isinstance(component, dict) or not isinstance(component.get("title"), str):
            raise UnusableReply("Each component of the plan needs a 'title'.")
        checked.append(
            {
                "title": component["title"][:200],
                "purpose": str(component.get("purpose") or "")[:500],
                "files": [check_path(p) for p in string_list(component.get("files", []), "files")],
            }
        )
    files = [check_path(p) for p in string_list(data.get("files", []), "files", limit=MAX_FILES)]
    decisions = string_list(data.get("decisions", []), "decisions")
    return {"components": checked, "files": files, "decisions": decisions}


def shown_files(files: dict[str, str], limit: int = MAX_PROMPT_FILE_CHARS) -> str:
    shown, used = [], 0
    for path, content in sorted(files.items()):
        if used + len(content) > limit:
            shown.append(f"### {path}\n(left out: too long for the prompt)")
            continue
        shown.append(f"### {path}\n{content}")
        used += len(content)
    return "\n\n".join(shown) or "(none yet)"


LANGUAGE_NOTES = {
    "python": "The project is Python 3.11, standard library only unless the request names "
    "a package; its tests use pytest and live under tests/ (run: python -m pytest).",
    "javascript": "The project is JavaScript for Node 20 (CommonJS modules, no npm "
    "dependencies); its tests use node:test and node:assert and live under test/ as "
    "*.test.js (run: node --test).",
}


def system_prompt(context: StepContext, step: str, system: str) -> str:
    language = context.outputs.get("intent", {}).get("language", "python")
    return f"[step: {step}] {system} {LANGUAGE_NOTES.get(language, '')}".strip()


def brief(context: StepContext) -> str:
    intent = context.outputs.get("intent", {})
    return (
        f"# Request\n{context.project.description.strip()}\n\n"
        f"Kind: {intent.get('kind', 'library')}; package name: {intent.get('name', 'project')}; "
        f"language: {intent.get('language', 'python')}; "
        f"stack: {', '.join(intent.get('stack', [])) or 'standard library'}; "
        f"constraints: {'; '.join(intent.get('constraints', [])) or 'none'}."
    )


async def ask(
    context: StepContext, step: str, system: str, user: str, parse: Callable[[dict[str, Any]], T]
) -> ModelResult[T]:
    """One model request for ``step``, its reply parsed by ``parse``; never raises an
    :class:`LLMError`: a failure is returned, with the tokens spent on it (they count
    against the job's budget either way)."""
    assert context.llm is not None
    tokens = 0
    model = context.llm.model
    try:
        reply = await context.llm.complete(
            [
                {"role": "system", "content": system_prompt(context, step, system)},
                {"role": "user", "content": user},
            ],
            budget=context.budget,
        )
        tokens, model = reply.total_tokens, reply.model
        return ModelResult(parse(json_object(reply.text)), tokens, model)
    except LLMError as error:
        payload = {
            "step": step,
            "code": error.code,
            "error": error.message,
            "tokens": tokens,
            "fallback": "offline",
        }
        return ModelResult(None, tokens, model, payload, [payload])
