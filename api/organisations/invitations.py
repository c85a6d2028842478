"""Invitations to an organisation: a mailed link, single use, 7 days.

The link carries a random token; the table keeps only its SHA-256 (as the account links
do), so a copy of the database cannot be turned into working links. Opening the link only
shows what it is for (mail scanners open links too); joining is its page's button. The
invitee joins with an account whose confirmed address is the invitation's.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import ratelimit
from api.accounts.links import page_url, token_hash
from api.accounts.mail import Mailer, compose
from api.core.config import Settings
from api.errors import BadRequest, Conflict, Forbidden, InvalidInput, NotFound
from api.models import Account, Tenant, UserProfile
from api.models.organisation import OrganisationInvitation
from api.organisations import membership
from api.organisations.membership import across_organisations, check_role

log = logging.getLogger(__name__)

LIFETIME = timedelta(days=7)
PAGE = "organisation/invitations"
MAIL_TEMPLATE = "organisation_invitation"
MAX_EMAIL_LENGTH = 320
_TOKEN_BYTES = 32
_MAX_TOKEN_LENGTH = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Invitation:
    """An invitation and its organisation, as the link's page shows them."""

    row: OrganisationInvitation
    tenant: Tenant


def normal_address(value: str) -> str:
    email = value.strip()
    if not email or len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        message = "Enter the address to invite, like name@example.org."
        raise InvalidInput(message, fields=[{"field": "email", "message": message}])
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def invitation_url(settings: Settings, token: str) -> str:
    return f"{page_url(settings, PAGE)}/{quote(token, safe='')}"


def _pending(now: datetime) -> list[ColumnElement[bool]]:
    return [
        OrganisationInvitation.accepted_at.is_(None),
        OrganisationInvitation.revoked_at.is_(None),
        OrganisationInvitation.expires_at > now,
    ]


async def pending_invitations(
    session: AsyncSession, tenant: Tenant
) -> list[OrganisationInvitation]:
    """Invitations of the organisation not yet used, revoked or expired, newest first."""
    now = datetime.now(UTC)
    return list(
        await session.scalars(
            select(OrganisationInvitation)
            .where(OrganisationInvitation.tenant_id == tenant.id, *_pending(now))
            .order_by(OrganisationInvitation.created_at.desc())
        )
    )


# Invitations one organisation may send per rate-limit window (a large class at once).
INVITATIONS_PER_WINDOW = 100


async def invite(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    account: Account,
    *,
    email: str,
    role: str = membership.MEMBER,
) -> OrganisationInvitation:
    """Mail an invitation (an older one to the same address stops working)."""
    address, role = normal_address(email), check_role(role)
    tenant = await membership.admin_of(session, account, "invite people")
    already = await session.scalar(
        select(UserProfile.hub_name)
        .join(Account, Account.username == UserProfile.hub_name)
        .where(UserProfile.tenant_id == tenant.id, func.lower(Account.email) == address.lower())
    )
    if already is not None:
        raise Conflict(f"{address} is a member of {tenant.name} already.")
    # The platform's mail server is not a relay: a few invitations to one address, and a
    # class's worth from one organisation, per quarter hour.
    limits = (
        ratelimit.mail_limit("organisation_invitation", address),
        ratelimit.Limit(f"invitations:{tenant.id}", INVITATIONS_PER_WINDOW),
    )
    await ratelimit.refuse_if_limited(
        session, *limits, message=f"{tenant.name} has sent many invitations just now."
    )
    ratelimit.record(session, *limits)
    now = datetime.now(UTC)
    await session.execute(
        update(OrganisationInvitation)
        .where(
            OrganisationInvitation.tenant_id == tenant.id,
            func.lower(OrganisationInvitation.email) == address.lower(),
            *_pending(now),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    row = OrganisationInvitation(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=address,
        role=role,
        token_hash=token_hash(token),
        invited_by=account.username,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    membership.record_tenant_event(
        session, tenant, "tenant.invited", account.username, email=address, role=role
    )
    await session.commit()
    # After the commit: a mail that fails leaves the invitation, to be sent again.
    await mailer.send(
        compose(
            settings,
            to=address,
            template=MAIL_TEMPLATE,
            organisation=tenant.name,
            invited_by=account.display_name or account.username,
            role=role,
            url=invitation_url(settings, token),
            days=LIFETIME.days,
        )
    )
    log.info("%s invited %s to %s", account.username, address, tenant.slug)
    return row


async def revoke(session: AsyncSession, account: Account, invitation_id: str) -> None:
    tenant = await membership.admin_of(session, account, "revoke invitations")
    try:
        wanted = uuid.UUID(invitation_id)
    except ValueError:
        wanted = None
    row = (
        await session.scalar(
            select(OrganisationInvitation)
            .where(
                OrganisationInvitation.id == wanted,
                OrganisationInvitation.tenant_id == tenant.id,
            )
            .with_for_update()
        )
        if wanted
        else None
    )
    if row is None:
        raise NotFound("That invitation does not exist (any more).")
    if row.accepted_at is not None:
        raise Conflict(f"{row.email} has accepted that invitation already; remove them instead.")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        membership.record_tenant_event(
            session, tenant, "tenant.invitation_revoked", account.username, email=row.email
        )
    await session.commit()


def _check_usable(row: OrganisationInvitation | None, tenant: Tenant | None) -> None:
    if row is None or tenant is None:
        raise NotFound(
            "This invitation link is not valid. It may have been cut off or mistyped; "
            "open it from the mail again."
        )
    if row.accepted_at is not None:
        raise Conflict(
            f"This invitation to {tenant.name} has been used already. Each invitation "
            "works once; if you are not a member, ask its admins to invite you again."
        )
    if row.revoked_at is not None:
        raise Conflict(
            f"This invitation to {tenant.name} was withdrawn by its admins. Ask them for a "
            "new one if you should join."
        )
    if row.expires_at <= datetime.now(UTC):
        raise BadRequest(
            f"This invitation to {tenant.name} has expired (invitations work for "
            f"{LIFETIME.days} days). Ask its admins to invite you again."
        )


async def _by_token(
    session: AsyncSession, token: str, *, lock: bool
) -> tuple[OrganisationInvitation | None, Tenant | None]:
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None, None
    query = select(OrganisationInvitation).where(
        OrganisationInvitation.token_hash == token_hash(token)
    )
    row = await session.scalar(query.with_for_update() if lock else query)
    tenant = await session.get(Tenant, row.tenant_id) if row else None
    return row, tenant


async def check_invitation(session: AsyncSession, token: str) -> Invitation:
    """The invitation the link is for, if it can still be used (else the api's error)."""
    # The invitee is not in the organisation yet: only the platform scope finds its row.
    async with across_organisations(session):
        row, tenant = await _by_token(session, token, lock=False)
    _check_usable(row, tenant)
    assert row is not None and tenant is not None
    return Invitation(row, tenant)


def check_invitee(account: Account, row: OrganisationInvitation) -> None:
    """``Forbidden`` unless ``account`` has the invitation's address, confirmed."""
    if not account.email or account.email.lower() != row.email.lower():
        raise Forbidden(
            f"This invitation is for {row.email}, and you are signed in as "
            f"{account.email or account.username}. Sign out, then sign in or sign up "
            f"with {row.email}."
        )
    if account.email_verified_at is None:
        raise Forbidden(
            f"Confirm your address {account.email} first (follow the link in the mail we "
            "sent), then open the invitation again."
        )


async def accept(session: AsyncSession, account: Account, token: str) -> Tenant:
    """Join the organisation the invitation is for, with the invitation's role."""
    profile = await membership.own_profile(session, account)
    # Before joining, the invitation's row is another organisation's: the platform scope
    # finds and locks it (and the seats check counts the members the same way).
    async with across_organisations(session):
        row, tenant = await _by_token(session, token, lock=True)
    _check_usable(row, tenant)
    assert row is not None and tenant is not None
    check_invitee(account, row)
    tenant = await membership.locked_organisation(session, tenant.id)
    if profile.tenant_id is not None:
        membership.not_in_another(profile, tenant, await session.get(Tenant, profile.tenant_id))
    await membership.check_free_seat(session, tenant)
    await membership.join(session, profile, tenant, row.role, how="invitation")
    row.accepted_at = datetime.now(UTC)
    await session.commit()
    log.info("%s accepted the invitation to %s", account.username, tenant.slug)
    return tenant
