"""Rate limits over recorded attempts: failed sign-ins per account and per client address,
and mails asked for per address.

An account is locked for ``WINDOW`` after ``ACCOUNT_FAILURES`` failed sign-ins within it; a
client address after ``ADDRESS_FAILURES`` (many accounts from one place). The refusal says
when the next try is allowed. Mail requests (verification again, magic links, resets) are
recorded and limited the same way whether or not the address has an account, so a limit
tells nobody which addresses exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.errors import RateLimited
from api.models.account import SignInAttempt

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Limit:
    subject: str
    allowed: int


def account_limit(email: str) -> Limit:
    return Limit(f"account:{email.strip().lower()}", 5)


def address_limit(address: str | None) -> Limit:
    return Limit(f"address:{address or 'unknown'}", 20)


def mail_address_limit(address: str | None) -> Limit:
    """Mails asked for from one client address, to any addresses."""
    return Limit(f"mail-from:{address or 'unknown'}", 30)


def mail_limit(purpose: str, email: str) -> Limit:
    return Limit(f"mail:{purpose}:{email.strip().lower()}", 3)


def when(moment: datetime) -> str:
    """A moment for a person: the time (UTC) and how many minutes away."""
    minutes = max(1, round((moment - datetime.now(UTC)).total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"{moment:%H:%M} UTC (in {minutes} {unit})"


async def retry_at(db_session: AsyncSession, limit: Limit) -> datetime | None:
    """When the subject may try again, or None if it may now."""
    since = datetime.now(UTC) - WINDOW
    recent = (
        await db_session.scalars(
            select(SignInAttempt.occurred_at)
            .where(SignInAttempt.subject == limit.subject, SignInAttempt.occurred_at > since)
            .order_by(SignInAttempt.occurred_at.desc())
            .limit(limit.allowed)
        )
    ).all()
    if len(recent) < limit.allowed:
        return None
    # The oldest of the last ``allowed`` attempts leaves the window first.
    return recent[-1] + WINDOW


async def count_recent(db_session: AsyncSession, limit: Limit) -> int:
    since = datetime.now(UTC) - WINDOW
    count = await db_session.scalar(
        select(func.count())
        .select_from(SignInAttempt)
        .where(SignInAttempt.subject == limit.subject, SignInAttempt.occurred_at > since)
    )
    return int(count or 0)


async def refuse_if_limited(db_session: AsyncSession, *limits: Limit, message: str) -> None:
    """Raise ``RateLimited`` (``message`` + when) if any limit is reached."""
    moments = [moment for limit in limits if (moment := await retry_at(db_session, limit))]
    if moments:
        moment = max(moments)
        raise RateLimited(f"{message} Try again after {when(moment)}.", moment)


def record(db_session: AsyncSession, *limits: Limit) -> None:
    """One more attempt against each limit (the caller commits)."""
    now = datetime.now(UTC)
    for limit in limits:
        db_session.add(SignInAttempt(subject=limit.subject, occurred_at=now))


async def forget(db_session: AsyncSession, limit: Limit) -> None:
    """A successful sign-in clears the account's failures (the caller commits)."""
    await db_session.execute(delete(SignInAttempt).where(SignInAttempt.subject == limit.subject))
