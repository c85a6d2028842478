"""A model's reply is used only when it is well-formed and stays inside the project."""

from __future__ import annotations

import json

import pytest

from api.generation.agents import model
from api.generation.agents.code_generator import is_source
from api.generation.agents.model import UnusableReply, is_test


def test_a_fenced_json_reply_is_read() -> None:
    text = 'Here it is:\n```json\n{"files": {"pkg/a.py": "x = 1\\n"}}\n```\n'
    assert model.files_from(model.json_object(text)) == {"pkg/a.py": "x = 1\n"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", "not a JSON object"),
        ('{"files": {"a.py": }', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_text_that_is_not_a_json_object_is_refused(text: str, message: str) -> None:
    with pytest.raises(UnusableReply, match=message):
        model.json_object(text)


@pytest.mark.parametrize(
    "path",
    ["../up.py", "/etc/passwd", "a/../../b.py", "a\\b.py", ".gates/junit.xml", "", "a//b.py", 7],
)
def test_paths_outside_the_project_are_refused(path: object) -> None:
    with pytest.raises(UnusableReply, match="path"):
        model.files_from({"files": {path: "x"}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "lacks a non-empty 'files'"),
        ({"files": []}, "lacks a non-empty 'files'"),
        ({"files": {"a.py": 1}}, "not a string"),
        ({"files": {"a.py": "x" * (model.MAX_FILE_CHARS + 1)}}, "at most"),
        ({"files": {f"m{i}.py": "" for i in range(model.MAX_FILES + 1)}}, "at most"),
    ],
)
def test_malformed_or_oversized_files_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(UnusableReply, match=message):
        model.files_from(data)


def test_a_step_writes_only_its_own_kind_of_file() -> None:
    assert model.files_from({"files": {"tests/test_a.py": ""}}, is_test)
    with pytest.raises(UnusableReply, match=r"may not write 'pkg/a\.py'"):
        model.files_from({"files": {"pkg/a.py": ""}}, is_test)
    assert is_source("pkg/cli.py") and not is_source("pkg/test_cli.py")
    assert not is_source("README.md") and not is_source("conftest.py")


def test_a_plan_is_validated_and_trimmed() -> None:
    plan = model.plan_from(
        json.loads(
            '{"components": [{"title": "core", "purpose": "p", "files": ["pkg/core.py"]}],'
            ' "files": ["pkg/core.py"], "decisions": ["keep it small"], "extra": 1}'
        )
    )
    assert plan == {
        "components": [{"title": "core", "purpose": "p", "files": ["pkg/core.py"]}],
        "files": ["pkg/core.py"],
        "decisions": ["keep it small"],
    }
    with pytest.raises(UnusableReply, match="components"):
        model.plan_from({"components": []})
    with pytest.raises(UnusableReply, match="title"):
        model.plan_from({"components": [{"files": []}]})
    with pytest.raises(UnusableReply, match="outside"):
        model.plan_from({"components": [{"title": "x", "files": ["../x.py"]}]})
