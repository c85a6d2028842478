"""What the model is told: chat with the user's context, inline completion, notebooks."""

from __future__ import annotations

from collections.abc import Sequence

from api.schemas.assistant import ChatContext

CHAT_SYSTEM = (
    "You are the coding assistant inside the user's JupyterLab on the DATAZENtr platform. "
    "Answer precisely and briefly, in Markdown, with runnable code in fenced blocks. "
    "Prefer the user's language and libraries as seen in their notebook."
)
ACTION_INSTRUCTIONS = {
    "chat": "",
    "explain_error": "Explain what caused this error and where, in plain words, then how to "
    "fix it.",
    "fix_error": "Give the corrected code for the failing cell in one fenced block, then one "
    "sentence on what changed.",
}
COMPLETE_SYSTEM = (
    "You complete code at the cursor <CURSOR>. Reply with only the text to insert there: "
    "no explanations, no Markdown fences, at most a few lines."
)
NOTEBOOK_SYSTEM = (
    "You write Jupyter notebooks. Reply with JSON only: "
    '{"title": str, "cells": [{"type": "markdown"|"code", "source": str}]}. '
    "Start with a markdown cell stating the goal, then an outline, then alternating short "
    "markdown explanations and runnable Python code cells."
)
PREFIX_CHARS_FOR_MODEL = 4000
SUFFIX_CHARS_FOR_MODEL = 1000
NOTEBOOK_CHARS_FOR_MODEL = 12_000


def context_text(context: ChatContext | None) -> str:
    if context is None:
        return ""
    parts = []
    if context.path:
        parts.append(f"Open file: {context.path} ({context.language or 'unknown language'})")
    if context.notebook:
        excerpt = context.notebook[-NOTEBOOK_CHARS_FOR_MODEL:]
        parts.append(f"Excerpt of the open notebook/file:\n```\n{excerpt}\n```")
    if context.selection:
        parts.append(f"Selected code:\n```\n{context.selection}\n```")
    if context.error is not None:
        traceback = "\n".join(context.error.traceback)[-6000:]
        parts.append(
            f"The last error: {context.error.ename}: {context.error.evalue}\n```\n{traceback}\n```"
        )
    return "\n\n".join(parts)


def chat_messages(
    message: str,
    action: str,
    context: ChatContext | None,
    history: Sequence[dict[str, str]],
) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": CHAT_SYSTEM}]
    messages += [{"role": m["role"], "content": m["content"]} for m in history]
    parts = [ACTION_INSTRUCTIONS.get(action, ""), context_text(context), message]
    messages.append({"role": "user", "content": "\n\n".join(p for p in parts if p)})
    return messages


def complete_messages(prefix: str, suffix: str, language: str) -> list[dict[str, str]]:
    before = prefix[-PREFIX_CHARS_FOR_MODEL:]
    after = suffix[:SUFFIX_CHARS_FOR_MODEL]
    return [
        {"role": "system", "content": COMPLETE_SYSTEM},
        {"role": "user", "content": f"Language: {language}\n\n{before}<CURSOR>{after}"},
    ]


def notebook_messages(description: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": NOTEBOOK_SYSTEM},
        {"role": "user", "content": description},
    ]


def strip_fences(text: str) -> str:
    """A completion without the Markdown fences some models add anyway."""
    lines = text.strip("\n").splitlines()
    if lines and lines[0].lstrip().startswith("```"):
        lines = lines[1:]
    if lines and lines[-1].strip() == "```":
        lines = lines[:-1]
    return "\n".join(lines)
