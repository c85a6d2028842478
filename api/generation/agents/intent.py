"""Intent analysis: what kind of project is asked for, and what to call it."""

from __future__ import annotations

import re

from api.generation.agents.base import Phase, StepContext, StepOutcome

KINDS: dict[str, tuple[str, ...]] = {
    "cli": ("cli", "command line", "command-line", "terminal", "argparse", "subcommand"),
    "web_service": ("rest", "api", "http", "service", "endpoint", "fastapi", "web"),
    "data_pipeline": ("pipeline", "etl", "csv", "ingest", "aggregate", "batch", "transform"),
    "library": ("library", "package", "module", "utility", "helper", "sdk"),
    "data_science": ("notebook", "analysis", "dataset", "dashboard", "report", "plot"),
}
STOPWORDS = {"a", "an", "the", "that", "with", "for", "and", "of", "to", "in", "small", "simple"}


def classify(text: str) -> tuple[str, dict[str, int]]:
    lowered = text.lower()
    scores = {
        kind: sum(len(re.findall(rf"\b{re.escape(word)}\b", lowered)) for word in words)
        for kind, words in KINDS.items()
    }
    best = max(scores, key=lambda kind: scores[kind])
    return (best if scores[best] else "library"), scores


def project_name(text: str) -> str:
    words = [w for w in re.findall(r"[a-z][a-z0-9]*", text.lower()) if w not in STOPWORDS]
    name = "_".join(words[:3]) or "project"
    return name[:40]


class IntentAnalyst:
    name = "intent"
    phase: Phase = "plan"

    async def run(self, context: StepContext) -> StepOutcome:
        options = context.project.options
        kind, scores = classify(context.project.description)
        name = project_name(context.project.description)
        language = str(options.get("language") or "python")
        return StepOutcome(
            inputs={"description_chars": len(context.project.description), "options": options},
            outputs={
                "kind": kind,
                "name": name,
                "language": language,
                "scores": scores,
                "stack": list(options.get("stack", [])),
                "constraints": list(options.get("constraints", [])),
            },
            decision=f"a {kind.replace('_', ' ')} in {language}, named {name!r}",
        )
