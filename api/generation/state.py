"""A project's state rebuilt from its events: the one reader of the event vocabulary.

Event types and what they change:

- ``file.written`` {path, content} / ``file.deleted`` {path}: the files
- ``step.completed`` {step, inputs, outputs, decision, timing_ms, tokens}: decisions
- ``gate.result`` {gate, passed, metrics, report}: gate results (latest per gate)
- ``project.finished`` {status}, ``project.cancelled``: status
- ``project.restored`` {to_seq}: a restore; its file events follow it
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.models import ProjectEvent


@dataclass
class ProjectState:
    seq: int = 0
    at: datetime | None = None
    status: str = "queued"
    files: dict[str, str] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat() if self.at else None,
            "status": self.status,
            "files": dict(sorted(self.files.items())),
            "decisions": self.decisions,
            "gates": self.gates,
        }


def apply(state: ProjectState, event: ProjectEvent) -> None:
    payload = event.payload
    state.seq = event.seq
    state.at = event.occurred_at
    match event.type:
        case "file.written":
            state.files[payload["path"]] = payload["content"]
        case "file.deleted":
            state.files.pop(payload["path"], None)
        case "step.completed":
            state.steps[payload["step"]] = payload
            state.decisions.append(
                {"seq": event.seq, "step": payload["step"], "decision": payload.get("decision")}
            )
            if state.status == "queued":
                state.status = "running"
        case "gate.result":
            state.gates[payload["gate"]] = {k: v for k, v in payload.items() if k != "gate"}
        case "project.finished":
            state.status = payload["status"]
        case "project.cancelled":
            state.status = "cancelled"
        case "project.retried":
            state.status = "queued"
        case "project.restored":
            state.decisions.append(
                {
                    "seq": event.seq,
                    "step": "restore",
                    "decision": f"restored to {payload['to_seq']}",
                }
            )


def rebuild(events: Iterable[ProjectEvent], *, upto: int | None = None) -> ProjectState:
    state = ProjectState()
    for event in events:
        if upto is not None and event.seq > upto:
            break
        apply(state, event)
    return state


def seq_at_time(events: Iterable[ProjectEvent], when: datetime) -> int:
    seq = 0
    for event in events:
        if event.occurred_at > when:
            break
        seq = event.seq
    return seq


def diff(before: ProjectState, after: ProjectState) -> dict[str, Any]:
    """Files added, removed and changed (with a unified diff) between two states."""
    added = sorted(set(after.files) - set(before.files))
    removed = sorted(set(before.files) - set(after.files))
    changed = {}
    for path in sorted(set(before.files) & set(after.files)):
        if before.files[path] != after.files[path]:
            changed[path] = "".join(
                difflib.unified_diff(
                    before.files[path].splitlines(keepends=True),
                    after.files[path].splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}",
                )
            )
    gates = {
        name: {"from": before.gates.get(name, {}).get("passed"), "to": result.get("passed")}
        for name, result in after.gates.items()
        if before.gates.get(name, {}).get("passed") != result.get("passed")
    }
    return {
        "from_seq": before.seq,
        "to_seq": after.seq,
        "added": added,
        "removed": removed,
        "changed": changed,
        "gates": gates,
        "decisions": after.decisions[len(before.decisions) :],
    }
