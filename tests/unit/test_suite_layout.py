"""The test suite's layout: helpers live in ``tests/support/``, conftests hold fixtures only,
and no module imports a test module or a conftest.

pytest imports test modules and conftests itself; a module that imports one again runs it a
second time under another name and ties unrelated tests together. Every form of import counts:
``from tests.x.test_y import z``, ``import tests.x.conftest``, ``from tests.x import test_y``,
relative imports, ``importlib.import_module("...")`` and ``pytest_plugins``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("tests", "bench")  # the benchmarks reuse the tests' helpers too
IMPORT_FUNCTIONS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def is_test_module(name: str) -> bool:
    return name == "conftest" or name.startswith("test_")


def python_files(root: Path) -> Iterator[Path]:
    for top in CHECKED:
        yield from sorted((root / top).rglob("*.py"))


def _package_of(path: Path, root: Path) -> list[str]:
    """The dotted package a module belongs to (for an ``__init__.py``, its own package)."""
    return list(path.relative_to(root).parent.parts)


def _absolute(module: str | None, level: int, package: list[str]) -> str | None:
    """The module a (possibly relative) import names, or None if it climbs out of the tree."""
    if level == 0:
        return module
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _imported_modules(node: ast.AST, package: list[str], root: Path) -> Iterator[str]:
    """The modules an import statement, import call or ``pytest_plugins`` brings in."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(node.module, node.level, package)
        if base is None:
            return
        yield base
        if (root / Path(*base.split("."))).is_dir():  # a package: the names may be modules
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    elif isinstance(node, ast.Call):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name in IMPORT_FUNCTIONS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                target = first.value
                level = len(target) - len(target.lstrip("."))
                resolved = _absolute(target.lstrip(".") or None, level, package)
                if resolved:
                    yield resolved
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets):
            for constant in ast.walk(node.value) if node.value else ():
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    yield constant.value


def imports_of_test_modules(path: Path, root: Path = ROOT) -> list[Violation]:
    """Every place in ``path`` that imports a test module or a conftest."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _package_of(path, root)
    found = []
    for node in ast.walk(tree):
        for module in _imported_modules(node, package, root):
            if any(is_test_module(part) for part in module.split(".")):
                line = getattr(node, "lineno", 0)
                found.append(Violation(path.relative_to(root), line, f"imports {module}"))
    return sorted(set(found), key=lambda v: (str(v.path), v.line, v.problem))


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name == "fixture"


def non_fixtures(path: Path, root: Path = ROOT) -> list[Violation]:
    """Top-level functions and classes in a conftest that are neither fixtures nor hooks."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            found.append(Violation(path.relative_to(root), node.lineno, f"class {node.name}"))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("pytest_") or any(map(_is_fixture, node.decorator_list)):
                continue
            found.append(Violation(path.relative_to(root), node.lineno, f"def {node.name}"))
    return found


def fixtures(path: Path, root: Path = ROOT) -> list[Violation]:
    """Fixtures defined in ``path`` (anywhere in it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        Violation(path.relative_to(root), node.lineno, f"fixture {node.name}")
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(map(_is_fixture, node.decorator_list))
    ]


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    found = [str(v) for path in python_files(ROOT) for v in imports_of_test_modules(path)]
    assert not found, "move what these import to tests/support/:\n" + "\n".join(found)


def test_conftests_hold_fixtures_only() -> None:
    found = [
        str(v) for path in sorted(ROOT.glob("tests/**/conftest.py")) for v in non_fixtures(path)
    ]
    assert not found, "move these helpers to tests/support/:\n" + "\n".join(found)


def test_support_modules_define_no_fixtures() -> None:
    found = [str(v) for path in sorted(ROOT.glob("tests/support/**/*.py")) for v in fixtures(path)]
    assert not found, "fixtures belong in a conftest:\n" + "\n".join(found)


# The check itself, on a tree of its own: tests/e2e/test_here.py importing in every form.
IMPORT_FORMS = [
    "from tests.e2e.test_browser import sign_in",
    "from tests.integration.patterns.conftest import as_user",
    "import tests.e2e.conftest",
    "import tests.unit.test_x as x",
    "from tests.e2e import test_browser",
    "from tests.e2e import conftest as e2e",
    "from .test_browser import sign_in",
    "from . import conftest",
    "from .. import conftest",
    "from ..integration.conftest import seeded_database",
    "import importlib\nimportlib.import_module('tests.e2e.test_browser')",
    "__import__('tests.e2e.conftest')",
    "pytest_plugins = ['tests.e2e.conftest']",
    "def helper():\n    from tests.e2e.test_browser import sign_in",
]
ALLOWED_FORMS = [
    "from tests.support.hub import Hub",
    "import tests.support.network",
    "from tests.support import hub",
    "from ..support.browser import sign_in",
    "from tests.support.identity import test_like_name",  # a name, not a module
    "import pytest\nfrom api.testing import contest",
]


def _tree(root: Path, code: str) -> Path:
    for package in ("tests", "tests/e2e", "tests/integration", "tests/support"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    (root / "tests/e2e/conftest.py").write_text("")
    (root / "tests/e2e/test_browser.py").write_text("def sign_in(): ...\n")
    here = root / "tests/e2e/test_here.py"
    here.write_text(f'"""A test module."""\n\n{code}\n')
    return here


@pytest.mark.parametrize("code", IMPORT_FORMS)
def test_the_check_names_the_file_and_line_of_each_import_form(code: str, tmp_path: Path) -> None:
    here = _tree(tmp_path, code)
    found = [str(v) for v in imports_of_test_modules(here, tmp_path)]
    assert found, f"not caught: {code!r}"
    assert all(line.startswith("tests/e2e/test_here.py:") for line in found), found
    line = 3 + code.count("\n") if code.startswith(("def ", "import importlib")) else 3
    assert any(text.startswith(f"tests/e2e/test_here.py:{line}: imports ") for text in found)


@pytest.mark.parametrize("code", ALLOWED_FORMS)
def test_the_check_lets_support_imports_pass(code: str, tmp_path: Path) -> None:
    here = _tree(tmp_path, code)
    assert imports_of_test_modules(here, tmp_path) == []


def test_the_conftest_check_names_helpers_and_lets_fixtures_and_hooks_pass(
    tmp_path: Path,
) -> None:
    conftest = tmp_path / "conftest.py"
    conftest.write_text(
        "import pytest\nfrom pytest import fixture\n\nTIMEOUT = 5\n\n\n"
        "@pytest.fixture\ndef a(): ...\n\n\n"
        "@pytest.fixture(scope='session')\nasync def b(): ...\n\n\n"
        "@fixture\ndef c(): ...\n\n\n"
        "def pytest_collection_modifyitems(items): ...\n\n\n"
        "def helper(): ...\n\n\n"
        "class Helper: ...\n"
    )
    found = [str(v) for v in non_fixtures(conftest, tmp_path)]
    assert found == ["conftest.py:22: def helper", "conftest.py:25: class Helper"]
    assert [str(v) for v in fixtures(conftest, tmp_path)] == [
        "conftest.py:8: fixture a",
        "conftest.py:12: fixture b",
        "conftest.py:16: fixture c",
    ]
