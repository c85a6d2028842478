"""Code generator: writes the chosen components' source files and the project metadata."""

from __future__ import annotations

from api.generation.agents.base import StepContext, StepOutcome

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


def clean(content: str) -> str:
    return content.lstrip("\n")


class CodeGenerator:
    name = "code_generator"

    async def run(self, context: StepContext) -> StepOutcome:
        plan = context.outputs["architect"]
        files: dict[str, str] = {}
        for component in plan["components"]:
            for file in component["files"]:
                files[file["path"]] = clean(file["content"])
        if not plan["components"]:
            summary = context.project.description.splitlines()[0][:200]
            files[f"{plan['package']}/__init__.py"] = ""
            files[f"{plan['package']}/core.py"] = SKELETON.format(description=summary)
        summary = context.project.description.splitlines()[0][:120].replace('"', "'")
        files["pyproject.toml"] = PYPROJECT.format(
            name=plan["package"].replace("_", "-"), summary=summary
        )
        return StepOutcome(
            inputs={"components": [c["title"] for c in plan["components"]]},
            outputs={"files": sorted(files)},
            decision=f"wrote {len(files)} files",
            files=files,
        )
