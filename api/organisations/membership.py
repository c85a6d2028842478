"""Who belongs to an organisation and who runs it.

Every change locks the organisation's row first, so two changes at once cannot both take
the last seat or both remove one of two admins. An organisation always keeps an admin:
the last one can be neither removed, nor demoted, nor leave. Each change appends an event
to the person's stream, in the organisation. A person who leaves or is removed goes back to
the platform's default plan: the organisation's plan was theirs only while in it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.billing.subscriptions import personal_plan
from api.core.tenancy import PLATFORM, SCOPE_KEY, Scope, scope_of, set_scope
from api.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.events import append_event
from api.models import Account, Plan, Tenant, UserProfile
from api.models.organisation import TENANT_ROLES
from api.models.profile import DEFAULT_PLAN
from api.models.tenant import ORGANISATION_KINDS
from api.profiles import get_or_create_profile

log = logging.getLogger(__name__)

ADMIN = "admin"
MEMBER = "member"
MAX_NAME_LENGTH = 200
MAX_DOMAINS = 20
MAX_SEATS = 1_000_000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Member:
    """A member as the organisation's pages show them."""

    name: str
    display_name: str | None
    email: str | None
    role: str


def role_of(profile: UserProfile) -> str:
    """A member's role; one put in by a platform admin without a role is a member."""
    return profile.tenant_role or MEMBER


def email_domain(email: str | None) -> str:
    return (email or "").rpartition("@")[2].lower()


# Input --------------------------------------------------------------------------------------


def check_name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput.at("name", "Enter the organisation's name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput.at("name", f"Keep the name to {MAX_NAME_LENGTH} characters.")
    return name


def check_slug(value: str) -> str:
    slug = value.strip().lower()
    if not _SLUG.match(slug):
        raise InvalidInput.at(
            "slug",
            "Choose a short name of lower-case letters, digits and hyphens (up to 63, "
            "not starting or ending with a hyphen), e.g. acme-research.",
        )
    return slug


def check_kind(value: str) -> str:
    if value not in ORGANISATION_KINDS:
        raise InvalidInput.at("kind", "Choose whether it is a company, a university or a class.")
    return value


def parse_domains(value: str) -> list[str]:
    """Domains separated by commas, spaces or lines (``@`` in front allowed), lower-cased."""
    domains: list[str] = []
    for part in re.split(r"[\s,;]+", value.strip()):
        domain = part.removeprefix("@").lower().rstrip(".")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            raise InvalidInput.at(
                "email_domains", f"{part!r} is not a domain; write domains like example.org."
            )
        if domain not in domains:
            domains.append(domain)
    if len(domains) > MAX_DOMAINS:
        raise InvalidInput.at("email_domains", f"List at most {MAX_DOMAINS} domains.")
    return domains


def parse_seats(value: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_SEATS:
        raise InvalidInput.at(
            "seats", "Enter the number of seats as a whole number, or leave it empty."
        )
    return int(text)


def check_role(value: str) -> str:
    if value not in TENANT_ROLES:
        raise InvalidInput.at("role", "Choose member or admin.")
    return value


# Reading ------------------------------------------------------------------------------------


@asynccontextmanager
async def across_organisations(session: AsyncSession) -> AsyncIterator[None]:
    """Platform scope for the reads inside, then the caller's scope again. Only for what a
    person may learn about an organisation before they are in it (an invitation by its
    token, how many seats are taken, who its admins are)."""
    previous = scope_of(session) or Scope()
    await set_scope(session, PLATFORM)
    try:
        yield
    except BaseException:
        session.info[SCOPE_KEY] = previous  # for every later transaction
        # And for this one, unless a failed statement aborted it (then only a rollback
        # follows): the original error is the one to raise.
        with contextlib.suppress(DBAPIError, InvalidRequestError):
            await set_scope(session, previous)
        raise
    await set_scope(session, previous)


async def own_profile(session: AsyncSession, account: Account) -> UserProfile:
    """The person's profile (made if new), locked for this transaction."""
    await get_or_create_profile(session, HubUser(name=account.username, admin=False))
    profile = await session.scalar(
        select(UserProfile)
        .where(UserProfile.hub_name == account.username)
        .with_for_update(of=UserProfile)
        .execution_options(populate_existing=True)
    )
    if profile is None:  # pragma: no cover - made just above
        raise RuntimeError(f"profile of {account.username} vanished")
    return profile


async def organisation_of(session: AsyncSession, account: Account) -> Tenant | None:
    tenant_id = await session.scalar(
        select(UserProfile.tenant_id).where(UserProfile.hub_name == account.username)
    )
    return await session.get(Tenant, tenant_id) if tenant_id else None


async def locked_organisation(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.scalar(
        select(Tenant)
        .where(Tenant.id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if tenant is None:
        raise NotFound("That organisation no longer exists.")
    return tenant


async def members(session: AsyncSession, tenant: Tenant) -> list[Member]:
    """The members, admins first (the caller's scope must be the organisation)."""
    rows = await session.execute(
        select(UserProfile, Account)
        .outerjoin(Account, Account.username == UserProfile.hub_name)
        .where(UserProfile.tenant_id == tenant.id)
        .order_by(UserProfile.hub_name)
    )
    found = [
        Member(
            name=profile.hub_name,
            display_name=(account.display_name if account else None) or profile.display_name,
            email=(account.email if account else None) or profile.email,
            role=role_of(profile),
        )
        for profile, account in rows
    ]
    return sorted(found, key=lambda member: member.role != ADMIN)


async def seats_used(session: AsyncSession, tenant: Tenant) -> int:
    used = await session.scalar(
        select(func.count()).select_from(UserProfile).where(UserProfile.tenant_id == tenant.id)
    )
    return int(used or 0)


async def admin_names(session: AsyncSession, tenant: Tenant) -> list[str]:
    rows = await session.execute(
        select(UserProfile.hub_name, Account.display_name)
        .outerjoin(Account, Account.username == UserProfile.hub_name)
        .where(UserProfile.tenant_id == tenant.id, UserProfile.tenant_role == ADMIN)
        .order_by(UserProfile.hub_name)
    )
    return [display or name for name, display in rows]


async def _admin_count(session: AsyncSession, tenant: Tenant) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(UserProfile)
        .where(UserProfile.tenant_id == tenant.id, UserProfile.tenant_role == ADMIN)
    )
    return int(count or 0)


async def admin_of(session: AsyncSession, account: Account, doing: str) -> Tenant:
    """The organisation ``account`` runs, locked; ``Forbidden`` unless they are its admin."""
    profile = await own_profile(session, account)
    if profile.tenant_id is None:
        raise Forbidden(f"You are in no organisation, so you cannot {doing}.")
    tenant = await locked_organisation(session, profile.tenant_id)
    if role_of(profile) != ADMIN:
        raise Forbidden(f"Only the admins of {tenant.name} can {doing}; ask one of them.")
    return tenant


async def _member_profile(session: AsyncSession, tenant: Tenant, name: str) -> UserProfile:
    profile = await session.scalar(
        select(UserProfile)
        .where(UserProfile.hub_name == name, UserProfile.tenant_id == tenant.id)
        .with_for_update(of=UserProfile)
        .execution_options(populate_existing=True)
    )
    if profile is None:
        raise NotFound(f"{name} is not a member of {tenant.name} (any more).")
    return profile


def record_tenant_event(
    session: AsyncSession, tenant: Tenant, type: str, actor: str, **payload: object
) -> None:
    """An event of the organisation itself (in its scope)."""
    append_event(
        session,
        stream=f"tenant:{tenant.slug}",
        type=type,
        actor=actor,
        payload={"tenant": tenant.slug, **payload},
        tenant_id=tenant.id,
    )


# Changing -----------------------------------------------------------------------------------


def _record(
    session: AsyncSession, tenant: Tenant, who: str, type: str, actor: str, **payload: object
) -> None:
    append_event(
        session,
        stream=f"user:{who}",
        type=type,
        actor=actor,
        payload={"tenant": tenant.slug, **payload},
        tenant_id=tenant.id,
    )


async def check_free_seat(session: AsyncSession, tenant: Tenant) -> None:
    """``Conflict`` naming the admins if every seat is taken (the tenant is locked)."""
    if tenant.seats is None:
        return
    # The person is not a member yet: their scope cannot see the organisation's members.
    async with across_organisations(session):
        used = await seats_used(session, tenant)
        admins = await admin_names(session, tenant)
    if used >= tenant.seats:
        raise Conflict(
            f"{tenant.name} has no free seat: {used} of {tenant.seats} are taken. "
            f"Its admins can add seats: ask {', '.join(admins) or 'the platform operator'}."
        )


async def join(
    session: AsyncSession,
    profile: UserProfile,
    tenant: Tenant,
    role: str,
    *,
    how: str,
) -> None:
    """Put the (locked) person into the (locked) organisation; the caller checked the
    rules and commits. The session's scope becomes the organisation's. They get its member
    plan, if it has one."""
    profile.tenant_id = tenant.id
    profile.tenant_role = role
    await session.flush()
    await set_scope(session, Scope(user=profile.hub_name, tenant_id=tenant.id))
    _record(
        session,
        tenant,
        profile.hub_name,
        "tenant.member_joined",
        profile.hub_name,
        role=role,
        how=how,
    )
    if tenant.member_plan_code is not None:
        target = tenant.member_plan_code
        own = await own_subscription_plan(session, profile.hub_name)
        if own is not None and await _larger(session, own, target):
            target = own  # what they pay for themselves is kept
        assign_plan(session, profile, target, actor=profile.hub_name, tenant=tenant)


async def own_subscription_plan(session: AsyncSession, hub_name: str) -> str | None:
    """The plan the person's own subscription grants now (their billing rows are theirs:
    read across organisations, so an admin's action sees them too)."""
    async with across_organisations(session):
        return await personal_plan(session, hub_name, datetime.now(UTC), grace_days=0)


async def _larger(session: AsyncSession, code: str, than: str) -> bool:
    rows = await session.execute(select(Plan.code, Plan.rank).where(Plan.code.in_([code, than])))
    ranks = {plan_code: rank for plan_code, rank in rows}
    return ranks.get(code, -1) > ranks.get(than, -1)


def assign_plan(
    session: AsyncSession, profile: UserProfile, plan_code: str, *, actor: str, tenant: Tenant
) -> bool:
    """Move a member to the plan ``plan_code`` (an event as the platform's own plan changes
    append); whether their plan changed."""
    previous = profile.plan_code
    if previous == plan_code:
        return False
    profile.plan_code = plan_code
    append_event(
        session,
        stream=f"user:{profile.hub_name}",
        type="plan.assigned",
        actor=actor,
        payload={"from": previous, "to": plan_code, "tenant": tenant.slug},
        tenant_id=tenant.id,
    )
    return True


def not_in_another(profile: UserProfile, tenant: Tenant | None, current: Tenant | None) -> None:
    if profile.tenant_id is None:
        return
    if tenant is not None and profile.tenant_id == tenant.id:
        raise Conflict(f"You are a member of {tenant.name} already.")
    name = current.name if current else "another organisation"
    raise Conflict(
        f"You belong to {name} already. A person is in one organisation at a time: "
        "leave it first on your organisation page."
    )


async def create_organisation(
    session: AsyncSession,
    account: Account,
    *,
    name: str,
    slug: str,
    kind: str,
    email_domains: str,
) -> Tenant:
    """A new organisation run by ``account``, its first admin and member."""
    name, slug, kind = check_name(name), check_slug(slug), check_kind(kind)
    domains = parse_domains(email_domains)
    profile = await own_profile(session, account)
    if profile.tenant_id is not None:
        not_in_another(profile, None, await session.get(Tenant, profile.tenant_id))
    created = await session.scalar(
        insert(Tenant)
        .values(slug=slug, name=name, kind=kind, email_domains=domains)
        .on_conflict_do_nothing(index_elements=[Tenant.slug])
        .returning(Tenant.id)
    )
    if created is None:
        raise InvalidInput.at("slug", f"The short name {slug!r} is taken; choose another.")
    tenant = await locked_organisation(session, created)
    # Joining first: the event is the organisation's row, written in its scope.
    await join(session, profile, tenant, ADMIN, how="created")
    append_event(
        session,
        stream=f"tenant:{slug}",
        type="tenant.created",
        actor=account.username,
        payload={"tenant": slug, "name": name, "kind": kind},
        tenant_id=tenant.id,
    )
    await session.commit()
    log.info("%s created the organisation %s", account.username, slug)
    return tenant


async def joinable(session: AsyncSession, account: Account) -> list[Tenant]:
    """Organisations ``account`` may join on their own: auto-join on, their confirmed
    address at one of its domains (organisations are shared rows: no scope needed)."""
    if account.email_verified_at is None or not account.email:
        return []
    return list(
        await session.scalars(
            select(Tenant)
            .where(Tenant.auto_join, Tenant.email_domains.contains([email_domain(account.email)]))
            .order_by(Tenant.name)
        )
    )


async def join_by_domain(session: AsyncSession, account: Account, slug: str) -> Tenant:
    """Join an organisation with auto-join on, through a confirmed address at its domain."""
    if account.email_verified_at is None or not account.email:
        raise Forbidden(
            "Confirm your e-mail address first: only a confirmed address can join an "
            "organisation by its domain."
        )
    found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug.strip()))
    if found is None:
        raise NotFound("That organisation does not exist (any more).")
    profile = await own_profile(session, account)
    tenant = await locked_organisation(session, found)
    domain = email_domain(account.email)
    if not tenant.auto_join or domain not in tenant.email_domains:
        raise Forbidden(
            f"{tenant.name} does not let people at {domain} join on their own; "
            "ask its admins for an invitation."
        )
    if profile.tenant_id is not None:
        not_in_another(profile, tenant, await session.get(Tenant, profile.tenant_id))
    await check_free_seat(session, tenant)
    await join(session, profile, tenant, MEMBER, how="email_domain")
    await session.commit()
    return tenant


async def _leave_rows(
    session: AsyncSession, tenant: Tenant, profile: UserProfile, type: str, actor: str
) -> None:
    if role_of(profile) == ADMIN and await _admin_count(session, tenant) <= 1:
        whom = "You are" if actor == profile.hub_name else f"{profile.hub_name} is"
        raise Conflict(
            f"{whom} the only admin of {tenant.name}. Make another member admin first "
            "(or transfer ownership), so the organisation keeps someone who runs it."
        )
    _record(session, tenant, profile.hub_name, type, actor)
    # A plan an organisation gives ends with the membership: back to the default plan
    # (written in the organisation's scope, while the person is still in it).
    # Their own subscription's plan, if they pay for one, comes back.
    own = await own_subscription_plan(session, profile.hub_name)
    assign_plan(session, profile, own or DEFAULT_PLAN, actor=actor, tenant=tenant)
    await session.flush()
    profile.tenant_id = None
    profile.tenant_role = None
    await session.flush()


async def remove_member(session: AsyncSession, account: Account, name: str) -> None:
    tenant = await admin_of(session, account, "remove members")
    profile = await _member_profile(session, tenant, name)
    await _leave_rows(session, tenant, profile, "tenant.member_removed", account.username)
    await session.commit()


async def leave(session: AsyncSession, account: Account) -> Tenant:
    profile = await own_profile(session, account)
    if profile.tenant_id is None:
        raise Conflict("You are in no organisation.")
    tenant = await locked_organisation(session, profile.tenant_id)
    await _leave_rows(session, tenant, profile, "tenant.member_left", account.username)
    await session.commit()
    await set_scope(session, Scope(user=account.username))
    return tenant


async def change_role(session: AsyncSession, account: Account, name: str, role: str) -> None:
    role = check_role(role)
    tenant = await admin_of(session, account, "change roles")
    profile = await _member_profile(session, tenant, name)
    if role_of(profile) == role:
        return
    if role != ADMIN and await _admin_count(session, tenant) <= 1:
        raise Conflict(
            f"{name} is the only admin of {tenant.name}. Make another member admin first."
        )
    profile.tenant_role = role
    _record(session, tenant, name, "tenant.role_changed", account.username, role=role)
    await session.commit()


async def transfer_ownership(session: AsyncSession, account: Account, name: str) -> None:
    """Make another member admin and step down to member."""
    tenant = await admin_of(session, account, "transfer ownership")
    if name == account.username:
        raise InvalidInput.at("member", "Choose another member to hand the organisation to.")
    other = await _member_profile(session, tenant, name)
    own = await own_profile(session, account)
    other.tenant_role = ADMIN
    own.tenant_role = MEMBER
    _record(session, tenant, name, "tenant.role_changed", account.username, role=ADMIN)
    _record(session, tenant, account.username, "tenant.role_changed", account.username, role=MEMBER)
    await session.commit()


async def update_settings(
    session: AsyncSession,
    account: Account,
    *,
    name: str,
    email_domains: str,
    auto_join: bool,
    seats: str,
) -> Tenant:
    tenant = await admin_of(session, account, "change its settings")
    new_name, domains, cap = check_name(name), parse_domains(email_domains), parse_seats(seats)
    if auto_join and not domains:
        raise InvalidInput.at("email_domains", "List at least one domain for people to join by.")
    used = await seats_used(session, tenant)
    if cap is not None and cap < used:
        raise InvalidInput.at(
            "seats",
            f"{used} people are members; set at least {used} seats, or remove members first.",
        )
    # A domain no longer listed loses its single sign-on approval.
    tenant.sso_approved_domains = [d for d in tenant.sso_approved_domains if d in domains]
    tenant.name, tenant.email_domains, tenant.auto_join, tenant.seats = (
        new_name,
        domains,
        auto_join,
        cap,
    )
    append_event(
        session,
        stream=f"tenant:{tenant.slug}",
        type="tenant.settings_changed",
        actor=account.username,
        payload={
            "tenant": tenant.slug,
            "email_domains": domains,
            "auto_join": auto_join,
            "seats": cap,
        },
        tenant_id=tenant.id,
    )
    await session.commit()
    return tenant
