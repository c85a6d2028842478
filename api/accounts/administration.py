"""What a platform admin does to one account: disable or enable it, change its role or plan,
send its verification mail again, start a password reset, send its invitation again.

Each action is an event on the account's stream naming the admin (``actor``) and the account.
The pages check that the caller is a platform admin; these functions check what no admin
may do: disable themself, or take the admin role from the platform's last admin.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import invitations, service
from api.accounts.errors import AccountError, FormError
from api.accounts.mail import Mailer
from api.accounts.roles import PLATFORM_ADMIN, listed_as_admin, platform_admin_filter
from api.accounts.sessions import sign_out_everywhere
from api.auth import HubUser
from api.core.config import Settings
from api.events import append_event
from api.models import OAuthToken, Plan
from api.models.account import ROLES, Account
from api.profiles import get_or_create_profile

log = logging.getLogger(__name__)

# One admin change of roles or of disabled accounts at a time (two admins demoting each
# other at once must not leave the platform without one).
_ADMIN_CHANGES_LOCK = 0x61646D696E  # "admin"
ROLE_LABELS = {
    "student": "Student",
    "developer": "Developer",
    "org_admin": "Organisation admin",
    "platform_admin": "Platform admin",
}


class ActionRefused(AccountError):
    """An admin action that would break a rule of the platform (the message says which)."""

    status = 409
    code = "action_refused"


def admin_event(
    db_session: AsyncSession, actor: Account, target: Account, type: str, **payload: Any
) -> None:
    append_event(
        db_session,
        stream=f"account:{target.id}",
        type=type,
        actor=actor.username,
        payload={"account": target.username, **payload},
    )


async def _lock_admin_changes(db_session: AsyncSession) -> None:
    await db_session.execute(select(func.pg_advisory_xact_lock(_ADMIN_CHANGES_LOCK)))


async def _other_admins(db_session: AsyncSession, settings: Settings, account: Account) -> int:
    count = await db_session.scalar(
        select(func.count())
        .select_from(Account)
        .where(platform_admin_filter(settings), Account.id != account.id)
    )
    return count or 0


def keep_assigned_role(account: Account) -> None:
    """A role only an admin gives (organisation or platform admin) is not offered on the
    profile page, so completing the profile there would take it away: such an account
    skips that page."""
    if account.role not in service.SELF_CHOSEN_ROLES and account.profile_completed_at is None:
        account.profile_completed_at = datetime.now(UTC)


async def disable_account(db_session: AsyncSession, target: Account, *, actor: Account) -> None:
    """Disable the account and sign it out everywhere: its browser sessions are revoked,
    its session epoch raised and its tokens for the hub revoked."""
    if target.id == actor.id:
        raise ActionRefused(
            "You cannot disable your own account. Another platform admin can do it."
        )
    await _lock_admin_changes(db_session)
    if target.disabled_at is None:
        now = datetime.now(UTC)
        target.disabled_at = now
        await sign_out_everywhere(db_session, target)
        await db_session.execute(
            update(OAuthToken)
            .where(OAuthToken.account_id == target.id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        admin_event(db_session, actor, target, "account.disabled")
        log.info("account %s disabled by %s", target.username, actor.username)
    await db_session.commit()


async def enable_account(db_session: AsyncSession, target: Account, *, actor: Account) -> None:
    if target.disabled_at is not None:
        target.disabled_at = None
        admin_event(db_session, actor, target, "account.enabled")
        log.info("account %s enabled by %s", target.username, actor.username)
    await db_session.commit()


async def change_role(
    db_session: AsyncSession,
    settings: Settings,
    target: Account,
    role: str,
    *,
    actor: Account,
) -> None:
    """Give the account ``role``. The last platform admin keeps theirs (the platform must
    always have one), unless the operator's list keeps them an admin anyway."""
    if role not in ROLES:
        raise FormError("role", f"Choose one of the roles: {', '.join(ROLES)}.")
    await _lock_admin_changes(db_session)
    previous = target.role
    if role == previous:
        await db_session.commit()
        return
    losing_admin = previous == PLATFORM_ADMIN and not listed_as_admin(target, settings)
    if losing_admin and await _other_admins(db_session, settings, target) == 0:
        whose = "your" if target.id == actor.id else "this account's"
        raise ActionRefused(
            f"This is the platform's last admin, so {whose} platform admin role stays. "
            "Make another account a platform admin first."
        )
    target.role = role
    keep_assigned_role(target)
    admin_event(db_session, actor, target, "account.role_changed", **{"from": previous, "to": role})
    log.info("account %s: role %s -> %s by %s", target.username, previous, role, actor.username)
    await db_session.commit()


async def change_plan(
    db_session: AsyncSession, target: Account, plan_code: str, *, actor: Account
) -> None:
    """Move the account's hub user to an existing plan (as ``PUT /admin/users/…/plan``)."""
    plan = await db_session.get(Plan, plan_code)
    if plan is None:
        raise FormError("plan", f"There is no plan {plan_code!r}; choose one from the list.")
    profile = await get_or_create_profile(db_session, HubUser(name=target.username, admin=False))
    previous = profile.plan_code
    if previous != plan.code:
        profile.plan_code = plan.code
        append_event(
            db_session,
            stream=f"user:{target.username}",
            type="plan.assigned",
            actor=actor.username,
            payload={"from": previous, "to": plan.code, "account": str(target.id)},
            tenant_id=profile.tenant_id,
        )
    await db_session.commit()


def _mail_address(target: Account) -> str:
    if target.email is None:
        raise FormError("account", "This account has no e-mail address yet.")
    if target.disabled_at is not None:
        raise FormError("account", "This account is disabled: enable it first.")
    return target.email


async def resend_verification(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    target: Account,
    *,
    actor: Account,
) -> None:
    """Mail the account a new link that confirms its address."""
    email = _mail_address(target)
    if target.email_verified_at is not None:
        raise FormError("account", "This address is confirmed already.")
    # Committed with the link, so the event says a mail was asked for only if one was.
    admin_event(db_session, actor, target, "account.verification_resent_by_admin")
    await service.resend_verification(db_session, settings, mailer, email=email)


async def start_reset(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    target: Account,
    *,
    actor: Account,
) -> None:
    """Mail the person a password reset link. The admin never sees it."""
    email = _mail_address(target)
    admin_event(db_session, actor, target, "account.reset_started_by_admin")
    await service.request_password_reset(db_session, settings, mailer, email=email)


async def resend_invitation(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    target: Account,
    *,
    actor: Account,
) -> None:
    _mail_address(target)
    await invitations.resend_invitation(db_session, settings, mailer, target, actor=actor)
