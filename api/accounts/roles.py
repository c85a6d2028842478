"""Who is a platform admin: the account's role, or the operator's list of admins.

An operator names the first admin with ``admin_users`` (user names or e-mail addresses);
an address there counts only once the account has verified it, so nobody becomes an admin by
signing up with an address they do not own. A listed user name is never given to a new
account (``listed_usernames``): it names an account that has it already, such as a user
carried over from NativeAuthenticator. ``raise_listed_admin`` gives a listed account
the ``platform_admin`` role itself (the sign-in path calls it), so the hub and the api see
one role.
"""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.events import append_event
from api.models.account import Account

log = logging.getLogger(__name__)

PLATFORM_ADMIN = "platform_admin"


def _listed_names(settings: Settings) -> frozenset[str]:
    return frozenset(name.strip().lower() for name in settings.admin_users if name.strip())


def listed_usernames(settings: Settings) -> frozenset[str]:
    """The user names (not addresses) in ``admin_users``: no new account is given one."""
    return frozenset(name for name in _listed_names(settings) if "@" not in name)


def listed_as_admin(account: Account, settings: Settings) -> bool:
    """Whether ``admin_users`` names the account: its user name, or its verified address."""
    listed = _listed_names(settings)
    if account.username.lower() in listed:
        return True
    return (
        account.email is not None
        and account.email_verified_at is not None
        and account.email.lower() in listed
    )


def is_platform_admin(account: Account, settings: Settings) -> bool:
    """An active account with the platform_admin role, or one the operator lists."""
    if account.disabled_at is not None:
        return False
    return account.role == PLATFORM_ADMIN or listed_as_admin(account, settings)


def platform_admin_filter(settings: Settings) -> ColumnElement[bool]:
    """``is_platform_admin`` as a WHERE clause over ``accounts``."""
    listed = _listed_names(settings)
    by_list: ColumnElement[bool] = (
        or_(
            func.lower(Account.username).in_(listed),
            and_(
                Account.email_verified_at.is_not(None),
                func.lower(Account.email).in_(listed),
            ),
        )
        if listed
        else false()
    )
    return and_(Account.disabled_at.is_(None), or_(Account.role == PLATFORM_ADMIN, by_list))


def raise_listed_admin(db_session: AsyncSession, settings: Settings, account: Account) -> bool:
    """Give a listed account the platform_admin role (with an event); True if it changed.

    Added to the session; the caller commits."""
    if account.role == PLATFORM_ADMIN or account.disabled_at is not None:
        return False
    if not listed_as_admin(account, settings):
        return False
    previous, account.role = account.role, PLATFORM_ADMIN
    append_event(
        db_session,
        stream=f"account:{account.id}",
        type="account.role_changed",
        actor=None,
        payload={
            "account": account.username,
            "from": previous,
            "to": PLATFORM_ADMIN,
            "reason": "listed in admin_users",
        },
    )
    log.info("account %s is a platform admin (listed in admin_users)", account.username)
    return True
