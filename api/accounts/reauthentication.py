"""Proving it is still the person before a change that matters (a new password, deletion).

An account with a password types it again. An account without one (it signs in by mailed
link or a provider) must have signed in on this browser within ``FRESH_SIGN_IN``: a
browser left signed in for days is not enough. Wrong passwords count against the same
limits as failed sign-ins, so a stolen session cannot guess the password here instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import ratelimit
from api.accounts.errors import FormError, RateLimited
from api.accounts.passwords import verify_password
from api.accounts.service import LOCKED, _event
from api.models.account import Account, AccountSession

FRESH_SIGN_IN = timedelta(minutes=10)
WRONG_PASSWORD = "This is not your current password."  # noqa: S105 - a message


def signed_in_recently(session: AccountSession) -> bool:
    return datetime.now(UTC) - session.created_at <= FRESH_SIGN_IN


def _limits(account: Account, client_address: str | None) -> tuple[ratelimit.Limit, ...]:
    return (
        ratelimit.account_limit(account.email or account.username),
        ratelimit.address_limit(client_address),
    )


async def check_current_password(
    db_session: AsyncSession,
    account: Account,
    password: str,
    *,
    field: str,
    client_address: str | None,
) -> None:
    """``FormError`` on ``field`` unless ``password`` is the account's; ``RateLimited``
    after too many wrong ones. The caller's transaction is committed on a failure."""
    limits = _limits(account, client_address)
    await ratelimit.refuse_if_limited(db_session, *limits, message=LOCKED)
    if not password:
        raise FormError(field, "Enter your current password.")
    checked = await verify_password(account.password_hash, password)
    if checked.ok:
        if checked.new_hash:
            account.password_hash = checked.new_hash
        return
    ratelimit.record(db_session, *limits)
    _event(db_session, account, "account.password_check_failed")
    await db_session.flush()
    locked_until = await ratelimit.retry_at(db_session, limits[0])
    await db_session.commit()
    if locked_until is not None:
        raise RateLimited(f"{LOCKED} Try again after {ratelimit.when(locked_until)}.", locked_until)
    raise FormError(field, WRONG_PASSWORD)
