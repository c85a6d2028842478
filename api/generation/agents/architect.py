"""Architect: picks the components (patterns) that make up the project, and says why.

A pattern qualifies when it is in the requested language, has a test, every module it
imports is either its own or installed where the gates run, and its files do not collide
with a component already chosen. At most one project template, at most three components.

With a model configured, the model also plans the project (components, files, decisions)
from the request and the chosen patterns; the pattern plan stays in the outputs, so a later
step that cannot use the model can still compose the project offline.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import uuid
from typing import Any

from sqlalchemy import select

from api.generation.agents import model
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.models import Pattern

MAX_COMPONENTS = 3
# A further component must be about as relevant as the first one chosen.
RELEVANCE_MARGIN = 0.08
PLAN_SYSTEM = (
    "You are the architect of a small project with tests. Reply with JSON only: "
    '{"components": [{"title": str, "purpose": str, "files": [relative paths]}], '
    '"files": [every relative path the project needs, tests included], '
    '"decisions": [short sentences: what you decided and why]}.'
)


def imported_modules(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def local_modules(paths: list[str]) -> set[str]:
    return {path.split("/")[0].removesuffix(".py") for path in paths}


def missing_modules(files: list[dict[str, Any]]) -> list[str]:
    local = local_modules([f["path"] for f in files]) | {"tests", "conftest"}
    needed: set[str] = set()
    for file in files:
        if file["path"].endswith(".py"):
            needed |= imported_modules(file["content"])
    missing = []
    for name in sorted(needed - local):
        if name in sys.stdlib_module_names:
            continue
        if importlib.util.find_spec(name) is None:
            missing.append(name)
    return missing


def reason_to_skip(
    pattern: Pattern, language: str, taken: set[str], kinds: list[str]
) -> str | None:
    if pattern.language != language:
        return f"written in {pattern.language}"
    if not pattern.test:
        return "has no test"
    if pattern.kind not in ("snippet", "module", "project_template"):
        return f"a {pattern.kind}, not code"
    if pattern.kind == "project_template" and "project_template" in kinds:
        return "a second project template"
    files = [*pattern.files, pattern.test]
    if any(f["path"].endswith(".ipynb") for f in files):
        return "contains notebooks, which the gates do not execute"
    clash = sorted(taken & {f["path"] for f in files})
    if clash:
        return f"its files collide with chosen ones: {', '.join(clash)}"
    missing = missing_modules(files)
    if missing:
        return f"needs {', '.join(missing)}, not installed where the gates run"
    return None


class Architect:
    name = "architect"
    phase: Phase = "plan"

    async def run(self, context: StepContext) -> StepOutcome:
        outcome = await self.pattern_plan(context)
        if context.llm is None:
            return outcome
        patterns = "\n".join(
            f"- {c['title']} ({c['kind']}): {', '.join(f['path'] for f in c['files'])}"
            for c in outcome.outputs["components"]
        )
        asked = await model.ask(
            context,
            self.name,
            PLAN_SYSTEM,
            f"{model.brief(context)}\n\n# Patterns from the library that fit\n"
            f"{patterns or '(none)'}",
            model.plan_from,
        )
        outcome.tokens, outcome.notices = asked.tokens, asked.notices
        if asked.value is None:
            outcome.decision += " (the model's plan was unusable: offline plan)"
            return outcome
        outcome.outputs["model_plan"] = asked.value
        outcome.engine = context.llm.name
        outcome.decision = "; ".join(
            asked.value["decisions"]
        ) or "planned by the model: " + ", ".join(c["title"] for c in asked.value["components"])
        return outcome

    async def pattern_plan(self, context: StepContext) -> StepOutcome:
        intent = context.outputs["intent"]
        hits = context.outputs["pattern_search"]["hits"]
        ids = [uuid.UUID(hit["id"]) for hit in hits]
        async with context.database.sessionmaker() as session:
            rows = {
                p.id: p for p in await session.scalars(select(Pattern).where(Pattern.id.in_(ids)))
            }
        components: list[dict[str, Any]] = []
        skipped: list[dict[str, str]] = []
        taken: set[str] = set()
        similarity = {uuid.UUID(hit["id"]): float(hit.get("similarity") or 0.0) for hit in hits}
        floor: float | None = None
        for pattern_id in ids:
            pattern = rows.get(pattern_id)
            if pattern is None:
                continue
            if len(components) >= MAX_COMPONENTS:
                break
            if floor is not None and similarity[pattern_id] < floor:
                skipped.append({"title": pattern.title, "reason": "less relevant than the first"})
                continue
            reason = reason_to_skip(
                pattern, intent["language"], taken, [c["kind"] for c in components]
            )
            if reason is not None:
                skipped.append({"title": pattern.title, "reason": reason})
                continue
            taken |= {f["path"] for f in [*pattern.files, pattern.test or {}] if f}
            if floor is None:
                floor = similarity[pattern_id] - RELEVANCE_MARGIN
            components.append(
                {
                    "pattern_id": str(pattern.id),
                    "title": pattern.title,
                    "kind": pattern.kind,
                    "version": pattern.version,
                    "files": pattern.files,
                    "test": pattern.test,
                }
            )
        decision = (
            "compose " + "; ".join(c["title"] for c in components)
            if components
            else "no usable pattern: a minimal package skeleton"
        )
        return StepOutcome(
            inputs={"candidates": len(hits), "kind": intent["kind"]},
            outputs={
                "package": intent["name"],
                "components": components,
                "skipped": skipped,
                "layout": sorted(taken),
            },
            decision=decision,
        )
