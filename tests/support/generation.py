"""Projects for the generation pipeline's tests: made straight in the database, read back
from their event log, and written by a scripted model (``tests.support.fake_openai``)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from api.core.db import Database
from api.generation import eventlog
from api.models import Project, ProjectEvent
from tests.support.fake_openai import Script

# Runs the queue's jobs in the test's process until none is left (the ``drain`` fixture).
Drain = Callable[[], Awaitable[None]]
STEP = re.compile(r"\[step: (\w+)\]")


async def new_project(database: Database, description: str, owner: str = "dave") -> uuid.UUID:
    """A Python project with its ``project.created`` event, as the api records one."""
    async with database.sessionmaker() as session:
        project = Project(id=uuid.uuid4(), owner=owner, description=description)
        project.options = {"language": "python", "stack": [], "constraints": []}
        session.add(project)
        await session.flush()
        await eventlog.append(session, project.id, "project.created", {})
        await session.commit()
        return project.id


async def events_of(database: Database, project_id: uuid.UUID) -> list[ProjectEvent]:
    async with database.sessionmaker() as session:
        return await eventlog.all_events(session, project_id)


def step_of(body: dict[str, Any]) -> str:
    """The pipeline step a model request is for (its system prompt starts with it)."""
    match = STEP.match(body["messages"][0]["content"])
    assert match is not None
    return match.group(1)


def scripted(replies: dict[str, Any]) -> Script:
    """Replies per step, streamed in small parts; a string is sent as it is."""

    def reply(body: dict[str, Any]) -> list[str]:
        answer = replies[step_of(body)]
        text = answer if isinstance(answer, str) else "```json\n" + json.dumps(answer) + "\n```"
        return [text[i : i + 40] for i in range(0, len(text), 40)]

    return reply
