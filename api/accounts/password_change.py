"""A signed-in person changes their password, or sets a first one.

With a password, the current one is typed first; without one, the browser must have signed
in recently (``reauthentication``). The new one passes the strength checks. Every other
session is signed out (this browser stays signed in), open reset and sign-in links stop
working, and a mail tells the owner, so a change they did not make does not go unnoticed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links, ratelimit
from api.accounts.errors import FormError, MailUnavailable
from api.accounts.mail import Mailer
from api.accounts.passwords import check_new_password, hash_password
from api.accounts.reauthentication import check_current_password, signed_in_recently
from api.accounts.service import _event, _mail
from api.accounts.sessions import sign_out_everywhere
from api.core.config import Settings
from api.models.account import Account, AccountSession

log = logging.getLogger(__name__)


class FreshSignInNeeded(FormError):
    """An account without a password sets one only soon after signing in."""

    status = 403

    def __init__(self) -> None:
        super().__init__(
            "current_password",
            "To set a password, sign in again first (we can mail you a sign-in link).",
        )


async def change_password(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    account: Account,
    session: AccountSession,
    *,
    current_password: str,
    new_password: str,
    new_password_again: str,
    client_address: str | None,
) -> None:
    had_password = bool(account.password_hash)
    if had_password:
        await check_current_password(
            db_session,
            account,
            current_password,
            field="current_password",
            client_address=client_address,
        )
    elif not signed_in_recently(session):
        raise FreshSignInNeeded()
    check_new_password(new_password, email=account.email, name=account.display_name)
    if new_password != new_password_again:
        raise FormError("new_password_again", "The two new passwords are not the same.")
    account.password_hash = await hash_password(new_password)
    await sign_out_everywhere(db_session, account, keep=session)
    await links.retire_links(db_session, account.id, "reset_password", "magic_link")
    if account.email:
        await ratelimit.forget(db_session, ratelimit.account_limit(account.email))
    _event(
        db_session, account, "account.password_changed" if had_password else "account.password_set"
    )
    await db_session.commit()
    log.info("account %s %s its password", account.username, "changed" if had_password else "set")
    if account.email:
        try:
            await _mail(
                settings,
                mailer,
                to=account.email,
                template="account_password_changed",
                name=account.display_name or account.username,
                first=not had_password,
                when=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                reset_url=links.page_url(settings, "forgot"),
            )
        except MailUnavailable:
            # The password is changed either way; the notice is not worth undoing it.
            log.warning("could not mail %s about their new password", account.username)
