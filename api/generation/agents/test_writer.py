"""Test writer: tests for the written code, plus a generated import test of every module.

With a model configured, the model writes tests for the files as they are; offline, or
when its reply is unusable, the tests are the chosen components' own (for the components
whose files were written) and the skeleton's.
"""

from __future__ import annotations

from api.generation.agents import javascript, model
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.generation.agents.model import is_test

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


SYSTEM = (
    "You write the tests of a small project. Test what the code does, deterministically, "
    "without network or sleeping. Reply with JSON only: "
    '{"files": {"<test file path>": "<full content>", ...}}; only test files.'
)


def module_name(path: str) -> str | None:
    if not path.endswith(".py") or path.startswith("tests/") or "/test_" in f"/{path}":
        return None
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


class TestWriter:
    name = "test_writer"
    phase: Phase = "build"

    async def run(self, context: StepContext) -> StepOutcome:
        files: dict[str, str] = {}
        if context.outputs["intent"]["language"] == "javascript":
            modules = javascript.modules(list(context.files))
            if modules:
                files["test/generated_load.test.js"] = javascript.smoke_test(modules)
        else:
            modules = sorted({m for path in context.files if (m := module_name(path)) is not None})
            if modules:
                files["tests/test_generated_imports.py"] = SMOKE_TEST.format(modules=modules)
        outcome = StepOutcome(
            inputs={"modules": len(modules)},
            outputs={},
            decision="",
            files=files,
        )
        asked = None
        if context.llm is not None:
            asked = await model.ask(
                context,
                self.name,
                SYSTEM,
                f"{model.brief(context)}\n\n# Files\n{model.shown_files(context.files)}",
                lambda data: model.files_from(data, is_test),
            )
            outcome.tokens, outcome.notices = asked.tokens, asked.notices
        if asked is not None and asked.value is not None:
            assert context.llm is not None
            files.update(asked.value)
            outcome.engine = context.llm.name
            by = "the model's"
        else:
            files.update(self.offline_tests(context))
            by = "offline" if asked is None else "offline (the model's tests were unusable)"
        outcome.outputs = {"tests": sorted(files)}
        outcome.decision = f"{len(files)} test files ({by}) covering {len(modules)} modules"
        return outcome

    def offline_tests(self, context: StepContext) -> dict[str, str]:
        plan = context.outputs["architect"]
        files: dict[str, str] = {}
        for component in plan["components"]:
            if all(f["path"] in context.files for f in component["files"]):
                test = component["test"]
                files[test["path"]] = test["content"].lstrip("\n")
        package = plan["package"]
        core = context.files.get(f"{package}/core.py", "")
        if not plan["components"] and "def describe" in core:
            files["tests/test_core.py"] = SKELETON_TEST.format(package=package)
        if not plan["components"] and "function describe" in context.files.get(f"{package}.js", ""):
            files[f"test/{package}.test.js"] = javascript.SKELETON_TEST.format(package=package)
        return files
