"""The offline engine: answers from the pattern library and known error explanations.

Used when no model is configured, when the model endpoint fails, and for inline
completion without a model. Every answer says that it is offline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.assistant import tracebacks
from api.models import Pattern
from api.patterns.access import Viewer
from api.patterns.content import LANGUAGES, MAX_QUERY_CHARS
from api.patterns.embedder import Embedder
from api.patterns.search import SearchHit, search_patterns
from api.schemas.assistant import ChatContext

CODE_KINDS = ("snippet", "module", "project_template")
ALL_KINDS = (*CODE_KINDS, "architecture_decision", "deployment_config")
ERROR_ACTIONS = ("explain_error", "fix_error")
ANSWER_PATTERNS = 3
CODE_LINES_IN_CHAT = 40
# A comment line of at least this many words asks the library for a completion.
COMPLETION_COMMENT_WORDS = 3
COMMENT = re.compile(r"^\s*(?:#|//|--)\s*(.+?)\s*$")

# Cosine similarity of question and pattern (all-MiniLM-L6-v2): above GOOD a pattern is
# about the question; between SOME and GOOD it is related at best.
GOOD_SIMILARITY = 0.35
SOME_SIMILARITY = 0.2
KEYWORD_AND = 0.3  # a strong keyword match makes a somewhat similar pattern worth showing
LONGEST_BACKTICKS = re.compile(r"`+")

NO_MODEL = "no model is configured on this platform"
MODEL_DOWN = "the model endpoint could not be used"


@dataclass(frozen=True)
class OfflineRequest:
    action: str
    message: str
    context: ChatContext | None


def label(reason: str) -> str:
    return f"**Offline answer** ({reason}): from the pattern library and known error help.\n\n"


def search_language(language: str | None) -> list[str] | None:
    if language and language.lower() in LANGUAGES:
        return [language.lower()]
    return None


def search_scope(request: OfflineRequest) -> tuple[Sequence[str], str | None]:
    """Kinds and language to search: code in the file's language for an error; anything
    (decisions, deployment configs too) for a question."""
    language = request.context.language if request.context else None
    if request.action in ERROR_ACTIONS or (request.context and request.context.error):
        return CODE_KINDS, language
    return ALL_KINDS, None


def query_for(request: OfflineRequest) -> str:
    parts = [request.message]
    context = request.context
    if context is not None:
        if context.error is not None:
            parts.insert(0, f"{context.error.ename} {context.error.evalue}")
        if context.selection:
            parts.append(context.selection[:300])
    return " ".join(" ".join(parts).split())[:MAX_QUERY_CHARS]


async def find(
    session: AsyncSession,
    embedder: Embedder,
    viewer: Viewer,
    query: str,
    *,
    language: str | None = None,
    limit: int = ANSWER_PATTERNS,
    kinds: Sequence[str] = CODE_KINDS,
) -> list[SearchHit]:
    found = await search_patterns(
        session,
        embedder,
        viewer,
        query,
        kinds=list(kinds),
        languages=search_language(language),
        limit=limit,
    )
    if not found.hits and language is not None:  # a notebook in an unknown language
        found = await search_patterns(
            session, embedder, viewer, query, kinds=list(kinds), limit=limit
        )
    return found.hits


def relevant(hits: Sequence[SearchHit], *, strict: bool = False) -> list[SearchHit]:
    """Hits worth showing: the best one when it matches at all, others only when they match
    well (``strict``: every one must match well, e.g. for ghost text or an error)."""
    kept = []
    for position, hit in enumerate(hits):
        candidate = hit.ranked.candidate
        similarity = candidate.similarity or 0.0
        keyword_hit = candidate.keyword_rank is not None and candidate.keyword_rank <= 3
        if strict:
            good = similarity >= GOOD_SIMILARITY
        else:
            good = similarity >= GOOD_SIMILARITY or (keyword_hit and similarity >= KEYWORD_AND)
        some = similarity >= SOME_SIMILARITY or keyword_hit
        if good or (position == 0 and some and not strict):
            kept.append(hit)
    return kept


def main_code(pattern: Pattern) -> str:
    """The pattern's code to show or insert: its first file (the test is not part of it)."""
    files = pattern.files or []
    if not files:
        return ""
    return str(files[0].get("content", "")).strip("\n") + "\n"


def fence_language(pattern: Pattern) -> str:
    return "" if pattern.language in ("text", "notebook") else pattern.language


def fence_for(code: str) -> str:
    """A fence longer than any run of backticks in the code, so the block stays one block."""
    longest = max((len(run) for run in LONGEST_BACKTICKS.findall(code)), default=0)
    return "`" * max(3, longest + 1)


def _shortened(code: str, lines: int = CODE_LINES_IN_CHAT) -> str:
    rows = code.splitlines()
    if len(rows) <= lines:
        return code
    return "\n".join(rows[:lines]) + f"\n# … {len(rows) - lines} more lines in the pattern\n"


def patterns_markdown(hits: Sequence[SearchHit]) -> str:
    if not hits:
        return (
            "No pattern in the library matches this well. Try other words, or search the "
            "library in the Patterns panel (`%patterns search …` in a notebook).\n"
        )
    parts = ["Patterns from the library that fit:\n"]
    for number, hit in enumerate(hits, start=1):
        pattern = hit.pattern
        code = _shortened(main_code(pattern))
        fence = fence_for(code)
        parts.append(
            f"\n### {number}. {pattern.title}\n"
            f"{pattern.description}\n\n"
            f"*Why it matched:* {hit.ranked.summary()} Insert it with "
            f"`%patterns insert {pattern.id}`.\n\n"
            f"{fence}{fence_language(pattern)}\n{code}{fence}\n"
        )
    return "".join(parts)


def error_markdown(request: OfflineRequest) -> str:
    """The explanation of the error in the context (or in the message itself)."""
    error = request.context.error if request.context else None
    if error is not None:
        parsed = tracebacks.parse(error.ename, error.evalue, error.traceback)
    else:
        parsed = tracebacks.parse(None, None, request.message)
    explanation = tracebacks.explain(parsed)
    where = ""
    if parsed.location or parsed.line:
        code = f": `{parsed.line}`" if parsed.line else ""
        where = f"It happened at {parsed.location or 'the last frame'}{code}.\n\n"
    header = f"**{parsed.ename}**" + (f": {parsed.evalue}" if parsed.evalue else "")
    text = f"{header}\n\n{where}{explanation.summary}\n\n**How to fix it:** {explanation.fix}\n"
    if explanation.code and request.action == "fix_error":
        text += f"\nTry this first:\n\n```python\n{explanation.code}\n```\n"
    elif request.action == "fix_error" and parsed.line:
        text += (
            f"\nThe line to change is `{parsed.line}`; without a model the offline engine "
            "cannot rewrite it for you.\n"
        )
    return text + "\n"


def answer_body(request: OfflineRequest, hits: Sequence[SearchHit]) -> str:
    """Everything after the label: error help (for error actions), then the patterns."""
    has_error = request.context is not None and request.context.error is not None
    if request.action in ERROR_ACTIONS or has_error:
        # For an error, only patterns that match it well; the explanation is the answer.
        shown = relevant(hits, strict=True)
        return error_markdown(request) + (patterns_markdown(shown) if shown else "")
    return patterns_markdown(relevant(hits))


def comment_before_cursor(prefix: str) -> str | None:
    """The comment on the cursor's line (or the line above an empty one), if it asks for code."""
    lines = prefix.splitlines() or [""]
    if prefix.endswith("\n"):
        lines.append("")
    current = lines[-1]
    candidate = current if current.strip() else (lines[-2] if len(lines) > 1 else "")
    match = COMMENT.match(candidate)
    if match is None or len(match.group(1).split()) < COMPLETION_COMMENT_WORDS:
        return None
    return match.group(1)


def completion_text(prefix: str, code: str) -> str:
    """The pattern's code as an insertion at the cursor: on a new line after the comment."""
    return code if prefix.endswith("\n") or not prefix else "\n" + code


def chunks(text: str, size: int = 80) -> list[str]:
    """Split an answer into stream deltas at line ends, at most about ``size`` characters."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        while len(line) > size:
            pieces.append(line[:size])
            line = line[size:]
        if line:
            pieces.append(line)
    return pieces
