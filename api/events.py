"""Appending to the event log. There is no update or delete: the table refuses them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Event


def append_event(
    session: AsyncSession,
    *,
    stream: str,
    type: str,
    actor: str | None,
    payload: dict[str, Any] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> Event:
    """Add an event to the session; it is written with the caller's transaction."""
    event = Event(stream=stream, type=type, actor=actor, payload=payload or {}, tenant_id=tenant_id)
    session.add(event)
    return event
