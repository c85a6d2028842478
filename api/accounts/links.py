"""Single-use, expiring links sent by mail (verify an address, reset a password, sign in).

The link carries a random token; the database keeps only its SHA-256, so a copy of the
database cannot be turned into working links. A link is checked with ``check_link`` (to show
its page: opening a link in a mail scanner must not use it up) and used with ``use_link``,
which locks the row, so two clicks at once cannot both use it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.errors import LinkProblem
from api.core.config import Settings
from api.core.names import API_PREFIX
from api.models.account import Account, AccountToken

LIFETIMES = {
    "verify_email": timedelta(hours=24),
    "reset_password": timedelta(minutes=30),
    "magic_link": timedelta(minutes=15),
    "link_identity": timedelta(minutes=30),
    "invitation": timedelta(days=7),
}
# The page each purpose's link opens, under the accounts pages.
LINK_PAGES = {
    "verify_email": "verify",
    "reset_password": "reset",
    "magic_link": "magic",
    "invitation": "invitation",
    "link_identity": "link",
}
_TOKEN_BYTES = 32
_MAX_TOKEN_LENGTH = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def page_url(settings: Settings, page: str) -> str:
    """The full address of an account page (for mails)."""
    return f"{settings.public_base_url.rstrip('/')}{API_PREFIX}accounts/{page}"


def link_url(settings: Settings, purpose: str, token: str) -> str:
    """The full address of a link, as it appears in a mail."""
    return f"{page_url(settings, LINK_PAGES[purpose])}?{urlencode({'token': token})}"


async def issue_link(
    db_session: AsyncSession,
    *,
    purpose: str,
    email: str,
    account_id: uuid.UUID | None,
    payload: dict[str, Any] | None = None,
) -> str:
    """A new link's token (added to the session; the caller commits)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = datetime.now(UTC)
    db_session.add(
        AccountToken(
            id=uuid.uuid4(),
            account_id=account_id,
            purpose=purpose,
            email=email,
            token_hash=token_hash(token),
            payload=payload or {},
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return token


async def _find(
    db_session: AsyncSession, purpose: str, token: str | None, *, lock: bool
) -> AccountToken:
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        raise LinkProblem("unknown", purpose)
    statement = select(AccountToken).where(
        AccountToken.token_hash == token_hash(token), AccountToken.purpose == purpose
    )
    if lock:
        statement = statement.with_for_update()
    row = await db_session.scalar(statement)
    if row is None:
        raise LinkProblem("unknown", purpose)
    if row.used_at is not None:
        raise LinkProblem("used", purpose)
    if row.expires_at <= datetime.now(UTC):
        raise LinkProblem("expired", purpose)
    if row.account_id is not None:
        account = await db_session.get(Account, row.account_id)
        if account is None:
            raise LinkProblem("unknown", purpose)
        # A link mailed to an address the account no longer has, or to a disabled account.
        addresses = {(account.email or "").lower(), (account.student_email or "").lower()}
        # A link that confirms a new address is mailed to an address the account lacks yet.
        moving = row.payload.get("kind") == "new_email"
        if account.disabled_at is not None or not (moving or row.email.lower() in addresses):
            raise LinkProblem("unknown", purpose)
    return row


async def check_link(db_session: AsyncSession, purpose: str, token: str | None) -> AccountToken:
    """The link's row if it can still be used (nothing changes); else ``LinkProblem``."""
    return await _find(db_session, purpose, token, lock=False)


async def use_link(db_session: AsyncSession, purpose: str, token: str | None) -> AccountToken:
    """Use the link up (row locked, marked used; the caller commits); else ``LinkProblem``."""
    row = await _find(db_session, purpose, token, lock=True)
    row.used_at = datetime.now(UTC)
    return row


async def retire_links(db_session: AsyncSession, account_id: uuid.UUID, *purposes: str) -> None:
    """Mark every unused link of these purposes used (after a reset, older links must die)."""
    await db_session.execute(
        update(AccountToken)
        .where(
            AccountToken.account_id == account_id,
            AccountToken.purpose.in_(purposes),
            AccountToken.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )
