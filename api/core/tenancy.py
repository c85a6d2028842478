"""Whose transaction this is: the scope row-level security reads (``SET LOCAL``).

A :class:`Scope` rides on a session (``session.info``) and is applied at the start of
every transaction the session begins — a commit in the middle of a request does not lose
it. The scope comes from the authenticated identity only: the hub's answer for a token,
the platform's own session cookie, or the job a worker runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from api.models import UserProfile

SCOPE_KEY = "datazentr.scope"

_SET_SCOPE = text(
    "SELECT set_config('datazentr.user', :user, true), "
    "set_config('datazentr.tenant_id', :tenant, true), "
    "set_config('datazentr.platform', :platform, true), "
    "set_config('datazentr.tenant_admin', :tenant_admin, true)"
)


@dataclass(frozen=True)
class Scope:
    """A person (and their organisation, which they may run), or platform-wide work."""

    user: str | None = None
    tenant_id: uuid.UUID | None = None
    platform: bool = False
    # An organisation's admins read its members' ledgers (usage), never their chats.
    tenant_admin: bool = False

    def parameters(self) -> dict[str, str]:
        return {
            "user": self.user or "",
            "tenant": str(self.tenant_id) if self.tenant_id else "",
            "platform": "on" if self.platform else "",
            "tenant_admin": "on" if self.tenant_admin and self.tenant_id else "",
        }


# Platform admins, the hub's services, seeds and the worker's housekeeping.
PLATFORM = Scope(platform=True)


class ScopedSession(Session):
    """The synchronous session under each AsyncSession; carries the scope to the server."""


@event.listens_for(ScopedSession, "after_begin")
def _apply_scope(session: Session, _transaction: SessionTransaction, conn: Connection) -> None:
    scope: Scope | None = session.info.get(SCOPE_KEY)
    if scope is not None:
        conn.execute(_SET_SCOPE, scope.parameters())


async def set_scope(session: AsyncSession, scope: Scope) -> None:
    """Use ``scope`` for this transaction (if one is open) and every later one."""
    session.info[SCOPE_KEY] = scope
    if session.in_transaction():
        await session.execute(_SET_SCOPE, scope.parameters())


def scope_of(session: AsyncSession) -> Scope | None:
    scope: Scope | None = session.info.get(SCOPE_KEY)
    return scope


async def person_scope(session: AsyncSession, user_name: str) -> Scope:
    """The scope of a person: their name, the organisation their profile is in and whether
    they run it."""
    await set_scope(session, Scope(user=user_name))
    row = (
        await session.execute(
            select(UserProfile.tenant_id, UserProfile.tenant_role).where(
                UserProfile.hub_name == user_name
            )
        )
    ).first()
    tenant_id = row.tenant_id if row else None
    scope = Scope(
        user=user_name,
        tenant_id=tenant_id,
        tenant_admin=bool(row and tenant_id and row.tenant_role == "admin"),
    )
    await set_scope(session, scope)
    return scope
