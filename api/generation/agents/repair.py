"""Repair: when gates fail and the operator configured a model, ask it to fix the files,
then run the gates again — at most ``MAX_ROUNDS`` times and within the job's token budget.
Without a model the project stays failed, with the gate report."""

from __future__ import annotations

import json
import re
from typing import Any

from api.generation.agents import model
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.generation.gates import run_gates_async
from api.generation.llm import LLMError

MAX_ROUNDS = 2
MAX_PROMPT_FILE_CHARS = 60_000
SYSTEM = (
    "You fix projects whose quality gates failed. Reply with JSON only: "
    '{"files": {"<path>": "<full new content>", ...}} containing only the files you change.'
)


def prompt(files: dict[str, str], reports: dict[str, str]) -> str:
    shown, used = [], 0
    for path, content in sorted(files.items()):
        if used + len(content) > MAX_PROMPT_FILE_CHARS:
            break
        shown.append(f"### {path}\n{content}")
        used += len(content)
    failing = "\n\n".join(f"## gate {gate} failed\n{report}" for gate, report in reports.items())
    return f"{failing}\n\n# Files\n\n" + "\n\n".join(shown)


def parse_files(text: str, known: dict[str, str]) -> dict[str, str]:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        raise LLMError("The model's repair was not JSON.")
    try:
        files = json.loads(match.group(0))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise LLMError("The model's repair lacked a 'files' object.") from exc
    if not isinstance(files, dict):
        raise LLMError("The model's repair lacked a 'files' object.")
    cleaned = {}
    for path, content in files.items():
        if not isinstance(path, str) or not isinstance(content, str):
            continue
        if path.startswith("/") or ".." in path.split("/"):
            continue  # never outside the project
        cleaned[path] = content
    return cleaned


class Repairer:
    name = "repair"
    phase: Phase = "verify"

    async def run(self, context: StepContext) -> StepOutcome:
        gates = context.outputs["quality_gates"]
        if gates["passed"]:
            return StepOutcome({}, {"passed": True, "rounds": 0}, "not needed: every gate passed")
        if context.llm is None:
            return StepOutcome(
                {"failed": [g for g, ok in gates["gates"].items() if not ok]},
                {"passed": False, "rounds": 0},
                "no model configured: the project is marked failed with the gate report",
            )
        files = dict(context.files)
        reports: dict[str, str] = dict(gates.get("reports", {}))
        changed: dict[str, str] = {}
        results: list[dict[str, Any]] = []
        tokens = 0
        passed = False
        rounds = 0
        stop = ""
        for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - reported after the loop
            try:
                reply = await context.llm.complete(
                    [
                        {
                            "role": "system",
                            "content": model.system_prompt(context, self.name, SYSTEM),
                        },
                        {"role": "user", "content": prompt(files, reports)},
                    ],
                    budget=context.budget,
                )
                tokens += reply.total_tokens
                fixes = parse_files(reply.text, files)
            except LLMError as exc:
                stop = exc.message
                break
            files.update(fixes)
            changed.update(fixes)
            gate_results = await run_gates_async(
                files, language=context.outputs.get("intent", {}).get("language", "python")
            )
            results = [r.as_payload() for r in gate_results]
            passed = all(r.passed for r in gate_results)
            reports = {r.gate: r.report[-3000:] for r in gate_results if not r.passed}
            if passed:
                break
        decision = (
            f"repaired in {rounds} round(s)"
            if passed
            else f"still failing after {rounds} round(s)" + (f": {stop}" if stop else "")
        )
        return StepOutcome(
            {
                "failed": [g for g, ok in gates["gates"].items() if not ok],
                "model": context.llm.model,
            },
            {"passed": passed, "rounds": rounds, "changed": sorted(changed)},
            decision,
            files=changed,
            gates=results,
            tokens=tokens,
            engine=context.llm.name,
        )
