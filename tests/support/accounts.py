"""Accounts made directly in the database, for tests that need someone who already exists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from api.core.db import Database
from api.models.account import Account


def fresh_email(tag: str = "person") -> str:
    """An address no other test uses."""
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


async def create_account(
    database: Database,
    *,
    email: str | None = None,
    password_hash: str | None = None,
    verified: bool = True,
    role: str = "developer",
    display_name: str = "Test Person",
) -> Account:
    """A committed account with a unique username (``t-<hex>``) and e-mail."""
    now = datetime.now(UTC)
    account = Account(
        id=uuid.uuid4(),
        username=f"t-{uuid.uuid4().hex[:12]}",
        email=email or fresh_email(),
        email_verified_at=now if verified else None,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
        terms_accepted_at=now,
        session_epoch=0,
    )
    async with database.sessionmaker() as session:
        session.add(account)
        await session.commit()
    return account
