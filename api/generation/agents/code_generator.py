"""Code generator: writes the project's source files and its metadata.

With a model configured, the model writes the source from the plan (the chosen patterns
shown as reference); offline, or when the model's reply is unusable, the chosen
components' files are composed as they are.
"""

from __future__ import annotations

from typing import Any

from api.generation.agents import javascript, model
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.generation.agents.model import is_test

SKELETON = '''"""{description}"""


def describe() -> str:
    """What this project is for."""
    return {description!r}
'''

PYPROJECT = """[project]
name = "{name}"
version = "0.1.0"
description = "{summary}"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["."]
"""


SYSTEM = (
    "You write the source code of a small project, not its tests or README. Reply with "
    'JSON only: {"files": {"<relative path>": "<full content>", ...}}. Modules must load '
    "without side effects (no network access when imported)."
)


def clean(content: str) -> str:
    return content.lstrip("\n")


def language(context: StepContext) -> str:
    return str(context.outputs["intent"]["language"])


def metadata(context: StepContext) -> tuple[str, str]:
    """The project's package metadata file: pyproject.toml, or package.json for Node."""
    package = context.outputs["architect"]["package"]
    summary = context.project.description.splitlines()[0][:120].replace('"', "'")
    if language(context) == "javascript":
        return "package.json", javascript.package_json(package, summary)
    return "pyproject.toml", PYPROJECT.format(name=package.replace("_", "-"), summary=summary)


def is_source(path: str) -> bool:
    return not is_test(path) and not path.endswith(".md")


def plan_text(plan: dict[str, Any]) -> str:
    chosen = plan.get("model_plan")
    if chosen:
        lines = [
            f"- {c['title']}: {c['purpose']} ({', '.join(c['files'])})"
            for c in chosen["components"]
        ]
        lines += [f"- decided: {d}" for d in chosen["decisions"]]
        return "\n".join(lines)
    return "\n".join(f"- {c['title']}" for c in plan["components"]) or "- a minimal package"


class CodeGenerator:
    name = "code_generator"
    phase: Phase = "build"

    async def run(self, context: StepContext) -> StepOutcome:
        outcome = self.compose(context)
        if context.llm is None:
            return outcome
        plan = context.outputs["architect"]
        reference = {f["path"]: f["content"] for c in plan["components"] for f in c["files"]}
        asked = await model.ask(
            context,
            self.name,
            SYSTEM,
            f"{model.brief(context)}\n\n# Plan\n{plan_text(plan)}\n\n"
            f"# Reference code from the pattern library\n{model.shown_files(reference)}",
            lambda data: model.files_from(data, is_source),
        )
        if asked.value is None:
            outcome.tokens, outcome.notices = asked.tokens, asked.notices
            outcome.decision += " (the model's code was unusable: composed offline)"
            return outcome
        files = dict(asked.value)
        path, content = metadata(context)
        files.setdefault(path, content)
        return StepOutcome(
            inputs={"plan": plan_text(plan)},
            outputs={"files": sorted(files)},
            decision=f"the model wrote {len(files)} files",
            files=files,
            tokens=asked.tokens,
            engine=context.llm.name,
        )

    def compose(self, context: StepContext) -> StepOutcome:
        plan = context.outputs["architect"]
        files: dict[str, str] = {}
        for component in plan["components"]:
            for file in component["files"]:
                files[file["path"]] = clean(file["content"])
        if not plan["components"]:
            summary = context.project.description.splitlines()[0][:200]
            if language(context) == "javascript":
                files.update(javascript.skeleton(plan["package"], summary))
            else:
                files[f"{plan['package']}/__init__.py"] = ""
                files[f"{plan['package']}/core.py"] = SKELETON.format(description=summary)
        path, content = metadata(context)
        files[path] = content
        return StepOutcome(
            inputs={"components": [c["title"] for c in plan["components"]]},
            outputs={"files": sorted(files)},
            decision=f"wrote {len(files)} files",
            files=files,
        )
