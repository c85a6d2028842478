"""Test writer: the components' own tests plus a generated import test of every module."""

from __future__ import annotations

from api.generation.agents.base import StepContext, StepOutcome

SMOKE_TEST = '''"""Generated: every module of the project imports cleanly."""

import importlib

import pytest

MODULES = {modules!r}


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    assert importlib.import_module(name) is not None
'''

SKELETON_TEST = """from {package}.core import describe


def test_describe_says_what_the_project_is_for():
    assert describe()
"""


def module_name(path: str) -> str | None:
    if not path.endswith(".py") or path.startswith("tests/") or "/test_" in f"/{path}":
        return None
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


class TestWriter:
    name = "test_writer"

    async def run(self, context: StepContext) -> StepOutcome:
        plan = context.outputs["architect"]
        files: dict[str, str] = {}
        for component in plan["components"]:
            test = component["test"]
            files[test["path"]] = test["content"].lstrip("\n")
        if not plan["components"]:
            files["tests/test_core.py"] = SKELETON_TEST.format(package=plan["package"])
        modules = sorted({m for path in context.files if (m := module_name(path)) is not None})
        if modules:
            files["tests/test_generated_imports.py"] = SMOKE_TEST.format(modules=modules)
        return StepOutcome(
            inputs={"modules": len(modules)},
            outputs={"tests": sorted(files)},
            decision=f"{len(files)} test files covering {len(modules)} modules",
            files=files,
        )
