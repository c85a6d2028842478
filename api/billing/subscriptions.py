"""Subscriptions decide plans: the platform's copy of each, and the plan it grants.

Every change comes from Stripe's current object (:func:`apply_subscription`), fetched by id
after an event says something changed, so events arriving twice, late or out of order give
the same result. Then the owner's plan is settled from all their subscriptions:

- ``trialing`` and ``active`` grant the subscription's plan;
- ``past_due`` keeps it for ``billing_grace_days`` after the payment first failed;
- anything else (``canceled``, ``unpaid``, ``incomplete``...) grants nothing. Stripe ends a
  subscription cancelled "at period end" only when the period ends, so the plan lasts as
  long as what was paid for.

A person without a granting subscription falls back to their organisation's member plan,
or the free plan. An organisation's plan is the ceiling of its members' plans and its
seats are the subscription's quantity; without one it has no plan of its own.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.billing.catalogue import plan_for_price
from api.billing.provider import metadata_of
from api.events import append_event
from api.models import Account, BillingCustomer, Plan, Subscription, Tenant, UserProfile
from api.models.profile import DEFAULT_PLAN
from api.profiles import get_or_create_profile

log = logging.getLogger(__name__)

GRANTING = frozenset({"trialing", "active"})
GRACE = "past_due"


@dataclass(frozen=True)
class Owner:
    hub_name: str | None = None
    tenant_id: uuid.UUID | None = None

    @property
    def stream(self) -> str:
        return f"user:{self.hub_name}" if self.hub_name else f"tenant:{self.tenant_id}"


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def grants(subscription: Subscription, now: datetime, grace_days: int) -> bool:
    """Whether ``subscription`` gives its plan at ``now``."""
    if subscription.status in GRANTING:
        return True
    if subscription.status == GRACE and subscription.past_due_since is not None:
        return now < subscription.past_due_since + timedelta(days=grace_days)
    return False


async def lock_subscription(session: AsyncSession, subscription_id: str) -> None:
    """Serialise the handling of one subscription until this transaction ends: each handler
    fetches Stripe's state after the one before it committed, so the newest state wins."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        {"key": f"stripe-subscription:{subscription_id}"},
    )


async def owner_of_customer(session: AsyncSession, customer_id: str) -> Owner | None:
    customer = await session.get(BillingCustomer, customer_id)
    if customer is None:
        return None
    return Owner(customer.hub_name, customer.tenant_id)


async def plan_sold_by(session: AsyncSession, price: Any, row: Subscription | None) -> Plan | None:
    """The plan a Stripe price sells: a current price of a plan; else (a price the sync has
    since replaced: its subscribers keep it) the plan its metadata or product names; else
    the plan the subscription had."""
    found = await plan_for_price(session, price.id)
    if found is not None:
        return found[0]
    metadata = metadata_of(price)
    product = getattr(price, "product", None)
    product_id = product if isinstance(product, str) else getattr(product, "id", None)
    code = metadata.get("plan")
    if code is None and product_id and str(product_id).startswith("datazentr_"):
        code = str(product_id).removeprefix("datazentr_")
    if code is None and row is not None:
        code = row.plan_code
    return await session.get(Plan, code) if code else None


async def apply_subscription(
    session: AsyncSession, remote: stripe.Subscription, now: datetime, grace_days: int
) -> Subscription | None:
    """Write Stripe's subscription ``remote`` into the platform and settle its owner's
    plan. None (and nothing changed) when it sells no plan of this platform or belongs to
    no customer the platform made."""
    customer_id = remote.customer if isinstance(remote.customer, str) else remote.customer.id
    owner = await owner_of_customer(session, customer_id)
    if owner is None:
        log.warning("subscription %s: customer %s is not the platform's", remote.id, customer_id)
        return None
    item = remote["items"].data[0]
    row = await session.get(Subscription, remote.id)
    plan = await plan_sold_by(session, item.price, row)
    if plan is None:
        log.warning("subscription %s: price %s sells no plan", remote.id, item.price.id)
        return None
    recurring = getattr(item.price, "recurring", None)
    interval = str(getattr(recurring, "interval", None) or (row.interval if row else "month"))
    if row is None:
        row = Subscription(
            stripe_subscription_id=remote.id,
            stripe_customer_id=customer_id,
            hub_name=owner.hub_name,
            tenant_id=owner.tenant_id,
            stripe_created_at=_time(remote.created) or now,
        )
        session.add(row)
    previous_status = row.status
    row.plan_code = plan.code
    row.price_id = item.price.id
    row.interval = interval if interval in ("month", "year") else "month"
    row.status = remote.status
    row.quantity = int(getattr(item, "quantity", None) or 1)
    row.trial_end = _time(getattr(remote, "trial_end", None))
    row.current_period_end = _time(
        getattr(item, "current_period_end", None) or getattr(remote, "current_period_end", None)
    )
    row.cancel_at_period_end = bool(getattr(remote, "cancel_at_period_end", False))
    if remote.status == GRACE:
        row.past_due_since = row.past_due_since or now
    else:
        row.past_due_since = None
        row.grace_ended_at = None
    await session.flush()
    if previous_status != remote.status:
        append_event(
            session,
            stream=owner.stream,
            type="billing.subscription",
            actor="stripe",
            payload={
                "subscription": remote.id,
                "plan": plan.code,
                "from": previous_status,
                "to": remote.status,
                "quantity": row.quantity,
            },
            tenant_id=owner.tenant_id,
        )
    await settle(session, owner, now, grace_days)
    return row


async def settle(session: AsyncSession, owner: Owner, now: datetime, grace_days: int) -> None:
    if owner.hub_name is not None:
        await settle_person(session, owner.hub_name, now, grace_days)
    elif owner.tenant_id is not None:
        await settle_organisation(session, owner.tenant_id, now, grace_days)


async def _plans(session: AsyncSession) -> dict[str, Plan]:
    return {plan.code: plan for plan in await session.scalars(select(Plan))}


def _sold_to_people(plan: Plan, student: bool) -> bool:
    """Whether a person's own subscription may grant ``plan``: per-seat plans are for
    organisations, the student plan for verified students (the portal's plan switch cannot
    get around either)."""
    return not plan.per_seat and (student or not plan.requires_student_status)


async def _best(
    session: AsyncSession,
    owner_filter: Any,
    now: datetime,
    grace_days: int,
    allowed: Any = None,
) -> tuple[Subscription | None, list[Subscription]]:
    rows = list(
        await session.scalars(
            select(Subscription).where(owner_filter).order_by(Subscription.stripe_created_at)
        )
    )
    plans = await _plans(session)
    granting = [
        row
        for row in rows
        if grants(row, now, grace_days) and (allowed is None or allowed(plans[row.plan_code]))
    ]
    if not granting:
        return None, rows
    return max(granting, key=lambda row: (plans[row.plan_code].rank, row.stripe_created_at)), rows


async def _is_student(session: AsyncSession, hub_name: str) -> bool:
    verified = await session.scalar(
        select(Account.student_verified_at).where(Account.username == hub_name)
    )
    return verified is not None


async def personal_plan(
    session: AsyncSession, hub_name: str, now: datetime, grace_days: int
) -> str | None:
    """The plan a person's own subscription grants now, if any."""
    student = await _is_student(session, hub_name)
    best, _ = await _best(
        session,
        Subscription.hub_name == hub_name,
        now,
        grace_days,
        lambda plan: _sold_to_people(plan, student),
    )
    return best.plan_code if best else None


async def settle_person(
    session: AsyncSession, hub_name: str, now: datetime, grace_days: int
) -> None:
    # A person who bought before their first server or api call has no profile yet.
    await get_or_create_profile(session, HubUser(name=hub_name, admin=False))
    profile = await session.scalar(
        select(UserProfile).where(UserProfile.hub_name == hub_name).with_for_update(of=UserProfile)
    )
    if profile is None:  # pragma: no cover - made above
        return
    plans = await _plans(session)
    own = await personal_plan(session, hub_name, now, grace_days)
    rows = await subscriptions_of(session, Owner(hub_name=hub_name))
    tenant = await session.get(Tenant, profile.tenant_id) if profile.tenant_id else None
    member_plan = tenant.member_plan_code if tenant else None
    if own is not None:
        # The larger of what they pay for and what their organisation gives them.
        target = own
        if member_plan and plans[member_plan].rank > plans[own].rank:
            target = member_plan
        if plans[profile.plan_code].rank > plans[target].rank and profile.plan_code not in {
            row.plan_code for row in rows
        }:
            return  # a larger plan an admin gave stays
    elif profile.plan_code in {row.plan_code for row in rows}:
        # The plan came from a subscription that no longer grants it: back to what the
        # person has without paying. A plan an admin gave later is left alone.
        target = member_plan or DEFAULT_PLAN
    else:
        return
    if profile.plan_code != target:
        append_event(
            session,
            stream=f"user:{hub_name}",
            type="plan.assigned",
            actor="billing",
            payload={"from": profile.plan_code, "to": target, "by": "subscription"},
            tenant_id=profile.tenant_id,
        )
        profile.plan_code = target
    await session.flush()


async def settle_organisation(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, grace_days: int
) -> None:
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        return
    # An organisation's subscription grants per-seat plans only.
    best, rows = await _best(
        session, Subscription.tenant_id == tenant_id, now, grace_days, lambda plan: plan.per_seat
    )
    sold_codes = {row.plan_code for row in rows}
    seats: int | None
    if best is not None:
        plan_code, seats, member_plan = best.plan_code, best.quantity, best.plan_code
    elif tenant.plan_code in sold_codes:
        # (the seats stay: they cap who may join; the admins change them)
        plan_code, seats, member_plan = None, tenant.seats, None
    else:
        return
    plans = await _plans(session)
    previous = tenant.plan_code
    tenant.plan_code = plan_code
    tenant.seats = seats
    tenant.member_plan_code = member_plan
    members = list(
        await session.scalars(
            select(UserProfile)
            .where(UserProfile.tenant_id == tenant_id)
            .with_for_update(of=UserProfile)
        )
    )
    ceiling = plans[plan_code].rank if plan_code else plans[DEFAULT_PLAN].rank
    for profile in members:
        own = await personal_plan(session, profile.hub_name, now, grace_days)
        if member_plan is not None:
            target = member_plan
        elif plans[profile.plan_code].rank > ceiling:
            # Whatever the organisation gave (its member plan, an import's plan) ends with
            # its subscription.
            target = DEFAULT_PLAN
        else:
            continue
        if own is not None and plans[own].rank > plans[target].rank:
            target = own
        if profile.plan_code != target:
            append_event(
                session,
                stream=f"user:{profile.hub_name}",
                type="plan.assigned",
                actor="billing",
                payload={"from": profile.plan_code, "to": target, "tenant": tenant.slug},
                tenant_id=tenant_id,
            )
            profile.plan_code = target
    if previous != plan_code:
        append_event(
            session,
            stream=f"tenant:{tenant.slug}",
            type="billing.organisation_plan",
            actor="billing",
            payload={"from": previous, "to": plan_code, "seats": seats},
            tenant_id=tenant_id,
        )
    await session.flush()


async def subscriptions_of(session: AsyncSession, owner: Owner) -> list[Subscription]:
    where = (
        Subscription.hub_name == owner.hub_name
        if owner.hub_name
        else Subscription.tenant_id == owner.tenant_id
    )
    return list(
        await session.scalars(
            select(Subscription).where(where).order_by(Subscription.stripe_created_at.desc())
        )
    )
