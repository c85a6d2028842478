"""Invitations: a mailed single-use link (7 days) for an account a platform admin created.

Opening it shows a form; sending the form (a password, the terms accepted) uses the link,
which proves the address: the account is verified, signed in, and goes on to its profile.
An invited person who lost the mail can also use "forgot my password" (it mails the same
address). Mails go out after the accounts are committed; one that fails is reported and
can be sent again (``resend_invitation``), it never undoes the accounts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links
from api.accounts.errors import FormError
from api.accounts.mail import Mailer, compose
from api.accounts.passwords import check_new_password, hash_password
from api.core.config import Settings
from api.events import append_event
from api.models.account import Account

log = logging.getLogger(__name__)

PURPOSE = "invitation"
LIFETIME_DAYS = links.LIFETIMES[PURPOSE].days


def is_invited(account: Account) -> bool:
    """An account that was created for someone and never used: no password, no verified
    address yet (an invitation is what it waits for)."""
    return (
        account.email is not None
        and account.password_hash is None
        and account.email_verified_at is None
        and account.disabled_at is None
    )


async def issue_invitation(db_session: AsyncSession, account: Account, *, actor: str) -> str:
    """A new invitation link for ``account`` (older ones stop working); the caller commits
    and then mails the token with ``mail_invitation``."""
    assert account.email is not None, "an invitation goes to the account's address"
    await links.retire_links(db_session, account.id, PURPOSE)
    token = await links.issue_link(
        db_session, purpose=PURPOSE, email=account.email, account_id=account.id
    )
    append_event(
        db_session,
        stream=f"account:{account.id}",
        type="account.invited",
        actor=actor,
        payload={"account": account.username, "email": account.email},
    )
    return token


async def mail_invitation(
    settings: Settings, mailer: Mailer, account: Account, token: str, *, invited_by: str
) -> None:
    """Send the invitation; ``MailUnavailable`` if the mail server refuses."""
    assert account.email is not None
    await mailer.send(
        compose(
            settings,
            to=account.email,
            template=PURPOSE,
            name=account.display_name or account.username,
            invited_by=invited_by,
            username=account.username,
            url=links.link_url(settings, PURPOSE, token),
            days=LIFETIME_DAYS,
        )
    )


async def resend_invitation(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    account: Account,
    *,
    actor: Account,
) -> None:
    """A new invitation mail for an account that has not taken up its invitation yet."""
    if not is_invited(account):
        raise FormError(
            "account",
            "This account is in use already (it has a password or a confirmed address); "
            "start a password reset instead.",
        )
    token = await issue_invitation(db_session, account, actor=actor.username)
    await db_session.commit()
    await mail_invitation(
        settings, mailer, account, token, invited_by=actor.display_name or actor.username
    )


async def accept_invitation(
    db_session: AsyncSession, *, token: str | None, password: str, terms_accepted: bool
) -> Account:
    """Use the invitation: the password is set and the address verified (the caller signs
    the person in, which commits)."""
    row = await links.check_link(db_session, PURPOSE, token)
    account = await db_session.get(Account, row.account_id)
    assert account is not None  # check_link checked it
    check_new_password(password, email=account.email, name=account.display_name)
    if not terms_accepted:
        raise FormError("terms", "Accept the terms of use to start using your account.")
    new_hash = await hash_password(password)
    row = await links.use_link(db_session, PURPOSE, token)
    now = datetime.now(UTC)
    account.password_hash = new_hash
    account.email_verified_at = account.email_verified_at or now
    account.terms_accepted_at = now
    await links.retire_links(db_session, account.id, PURPOSE)
    append_event(
        db_session,
        stream=f"account:{account.id}",
        type="account.invitation_accepted",
        actor=account.username,
        payload={"email": row.email},
    )
    log.info("account %s took up its invitation", account.username)
    return account
