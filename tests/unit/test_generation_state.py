"""Rebuilding a project's state from its events, and intent analysis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api.generation.agents.intent import classify, project_name
from api.generation.state import diff, rebuild, seq_at_time
from api.models import ProjectEvent

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def events(*items: tuple[str, dict[str, Any]]) -> list[ProjectEvent]:
    project = uuid.uuid4()
    return [
        ProjectEvent(
            project_id=project,
            seq=n,
            type=kind,
            payload=payload,
            occurred_at=START + timedelta(seconds=n),
        )
        for n, (kind, payload) in enumerate(items, start=1)
    ]


LOG = events(
    ("project.created", {}),
    ("file.written", {"path": "a.py", "content": "a = 1\n"}),
    ("step.completed", {"step": "code_generator", "decision": "wrote 1 file"}),
    ("file.written", {"path": "a.py", "content": "a = 2\n"}),
    ("file.written", {"path": "b.py", "content": "b = 1\n"}),
    ("gate.result", {"gate": "tests", "passed": True, "metrics": {}}),
    ("project.finished", {"status": "succeeded"}),
    ("project.restored", {"to_seq": 3}),
    ("file.deleted", {"path": "b.py"}),
    ("file.written", {"path": "a.py", "content": "a = 1\n"}),
)


def test_state_at_each_point() -> None:
    assert rebuild(LOG, upto=3).files == {"a.py": "a = 1\n"}
    at_7 = rebuild(LOG, upto=7)
    assert at_7.files == {"a.py": "a = 2\n", "b.py": "b = 1\n"}
    assert at_7.status == "succeeded" and at_7.gates["tests"]["passed"] is True
    now = rebuild(LOG)
    assert now.files == rebuild(LOG, upto=3).files and now.seq == 10
    assert now.decisions[-1]["decision"] == "restored to 3"


def test_time_to_sequence_number() -> None:
    assert seq_at_time(LOG, START + timedelta(seconds=4.5)) == 4
    assert seq_at_time(LOG, START) == 0


def test_diff_between_points() -> None:
    changes = diff(rebuild(LOG, upto=3), rebuild(LOG, upto=7))
    assert changes["added"] == ["b.py"] and changes["removed"] == []
    assert "-a = 1" in changes["changed"]["a.py"] and "+a = 2" in changes["changed"]["a.py"]
    assert changes["gates"] == {"tests": {"from": None, "to": True}}


def test_intent_analysis() -> None:
    assert classify("A command line tool to rename photos")[0] == "cli"
    assert classify("A REST API for orders")[0] == "web_service"
    assert classify("An ETL pipeline over CSV exports")[0] == "data_pipeline"
    assert classify("Something nice")[0] == "library"
    assert project_name("A tool that slugifies titles") == "tool_slugifies_titles"
