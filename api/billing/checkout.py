"""Buying and changing plans: Stripe Checkout to subscribe, the Customer Portal for
payment methods, invoices, plan changes and cancelling, and seats for organisations.

A person subscribes for themselves; an organisation's admin subscribes the organisation
to a per-seat plan, with at least as many seats as it has members. A plan's trial (14
days for Pro and Team) is given once per person or organisation. The Student plan needs
verified student status. Coming back from Checkout applies the result at once (the same
code the webhook runs; whichever comes first does it, the other finds it done), so the
billing page shows the new plan without waiting for Stripe's event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing import billing_page_url
from api.billing.customers import customer_for_organisation, customer_for_person
from api.billing.provider import BillingProvider, checkout_address, metadata_of
from api.billing.purchases import KIND, owns
from api.billing.subscriptions import (
    Owner,
    apply_subscription,
    grants,
    lock_subscription,
    subscriptions_of,
)
from api.billing.webhooks import complete_checkout
from api.core.config import Settings
from api.errors import Conflict, Forbidden, InvalidInput, NotFound
from api.models import Account, BillingCustomer, Plan, Subscription, Tenant
from api.organisations.membership import across_organisations, seats_used

Interval = Literal["month", "year"]


def price_of(plan: Plan, interval: str) -> str | None:
    return plan.stripe_price_month_id if interval == "month" else plan.stripe_price_year_id


async def sellable_plan(session: AsyncSession, code: str, interval: str) -> tuple[Plan, str]:
    plan = await session.get(Plan, code)
    if plan is None:
        raise InvalidInput.at("plan", f"There is no plan {code!r}; choose one from the list.")
    if plan.contact_sales:
        raise InvalidInput.at(
            "plan", f"The {plan.name} plan is sold by contract: contact the platform's operator."
        )
    if not plan.sold:
        raise InvalidInput.at("plan", f"The {plan.name} plan is free: nothing to buy.")
    if interval not in ("month", "year"):
        raise InvalidInput.at("interval", "Choose monthly or yearly billing.")
    price = price_of(plan, interval)
    if price is None:
        raise InvalidInput.at(
            "plan",
            f"The {plan.name} plan has no {interval}ly price in Stripe yet; the platform's "
            "operator runs `make billing-sync` to add it.",
        )
    return plan, price


async def _had_trial(session: AsyncSession, owner: Owner, plan: Plan) -> bool:
    return any(
        row.trial_end is not None or row.plan_code == plan.code
        for row in await subscriptions_of(session, owner)
    )


def _return_urls(settings: Settings, page: str) -> tuple[str, str]:
    success = settings.billing_success_url or page
    cancel = settings.billing_cancel_url or page
    joiner = "&" if "?" in success else "?"
    return (
        f"{success}{joiner}checkout={{CHECKOUT_SESSION_ID}}",
        f"{cancel}{joiner}checkout=cancelled",
    )


def _minute() -> str:
    """Part of checkout idempotency keys: a double click makes one session, a new try a
    minute later a new one."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M")


async def start_personal_checkout(
    session: AsyncSession,
    provider: BillingProvider,
    settings: Settings,
    account: Account,
    code: str,
    interval: str,
) -> str:
    """Checkout for ``account``'s own subscription to ``code``; the address to pay at."""
    plan, price = await sellable_plan(session, code, interval)
    if plan.per_seat:
        raise InvalidInput.at(
            "plan",
            f"The {plan.name} plan is priced per seat for organisations: an organisation's "
            "admin subscribes it from the organisation's billing page.",
        )
    if plan.requires_student_status and account.student_verified_at is None:
        raise InvalidInput.at(
            "plan",
            f"The {plan.name} plan is for students: confirm a student address on your "
            "profile page first.",
        )
    owner = Owner(hub_name=account.username)
    now = datetime.now(UTC)
    current = [row for row in await subscriptions_of(session, owner) if grants(row, now, 0)]
    if current:
        raise Conflict(
            "You have a subscription already: change its plan or cancel it in the billing "
            "portal ('Manage billing')."
        )
    customer = await customer_for_person(session, provider, account.username, account.email)
    subscription_data: dict[str, object] = {
        "metadata": {"plan": plan.code, "hub_name": account.username}
    }
    if plan.trial_days and not await _had_trial(session, owner, plan):
        subscription_data["trial_period_days"] = plan.trial_days
    success, cancel = _return_urls(settings, billing_page_url(settings))
    checkout = await provider.create_checkout(
        {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": account.username,
            "line_items": [{"price": price, "quantity": 1}],
            "subscription_data": subscription_data,
            "metadata": {"kind": "plan", "plan": plan.code, "hub_name": account.username},
            "success_url": success,
            "cancel_url": cancel,
        },
        key=f"plan-checkout:user:{account.username}:{price}:{_minute()}",
    )
    return checkout_address(checkout)


async def start_organisation_checkout(
    session: AsyncSession,
    provider: BillingProvider,
    settings: Settings,
    account: Account,
    tenant: Tenant,
    code: str,
    interval: str,
    seats: int,
    return_page: str,
) -> str:
    plan, price = await sellable_plan(session, code, interval)
    if not plan.per_seat:
        raise InvalidInput.at(
            "plan",
            f"An organisation subscribes to a per-seat plan; {plan.name} is for one person.",
        )
    members = await seats_used(session, tenant)
    if seats < max(members, 1):
        raise InvalidInput.at(
            "seats",
            f"{tenant.name} has {members} members: buy at least {max(members, 1)} seats.",
        )
    owner = Owner(tenant_id=tenant.id)
    now = datetime.now(UTC)
    if any(grants(row, now, 0) for row in await subscriptions_of(session, owner)):
        raise Conflict(
            f"{tenant.name} has a subscription already: change seats below, or the plan in "
            "the billing portal."
        )
    customer = await customer_for_organisation(
        session, provider, tenant.id, tenant.name, account.email
    )
    subscription_data: dict[str, object] = {
        "metadata": {"plan": plan.code, "tenant_id": str(tenant.id)}
    }
    if plan.trial_days and not await _had_trial(session, owner, plan):
        subscription_data["trial_period_days"] = plan.trial_days
    success, cancel = _return_urls(settings, return_page)
    checkout = await provider.create_checkout(
        {
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": f"tenant:{tenant.id}",
            "line_items": [{"price": price, "quantity": seats}],
            "subscription_data": subscription_data,
            "metadata": {"kind": "plan", "plan": plan.code, "tenant_id": str(tenant.id)},
            "success_url": success,
            "cancel_url": cancel,
        },
        key=f"plan-checkout:tenant:{tenant.id}:{price}:{seats}:{_minute()}",
    )
    return checkout_address(checkout)


async def portal_url(
    session: AsyncSession, provider: BillingProvider, owner: Owner, return_url: str
) -> str:
    where = (
        BillingCustomer.hub_name == owner.hub_name
        if owner.hub_name
        else BillingCustomer.tenant_id == owner.tenant_id
    )
    customer = await session.scalar(select(BillingCustomer.stripe_customer_id).where(where))
    if customer is None:
        raise NotFound("There is nothing to manage yet: no plan or bundle was bought here.")
    return await provider.create_portal(customer, return_url)


async def change_seats(
    session: AsyncSession,
    provider: BillingProvider,
    settings: Settings,
    tenant: Tenant,
    seats: int,
) -> Subscription:
    """Set the organisation's seats (Stripe prorates); applied as Stripe confirms it."""
    now = datetime.now(UTC)
    current = [
        row
        for row in await subscriptions_of(session, Owner(tenant_id=tenant.id))
        if grants(row, now, settings.billing_grace_days)
    ]
    if not current:
        raise Conflict(f"{tenant.name} has no subscription: subscribe to a plan first.")
    members = await seats_used(session, tenant)
    if seats < max(members, 1):
        raise InvalidInput.at(
            "seats",
            f"{tenant.name} has {members} members: keep at least {max(members, 1)} seats, "
            "or remove members first.",
        )
    row = current[0]
    remote = await provider.call(
        "reading the subscription",
        lambda: provider.client.v1.subscriptions.retrieve_async(row.stripe_subscription_id),
    )
    item = remote["items"].data[0]
    await provider.change_quantity(
        row.stripe_subscription_id,
        item.id,
        seats,
        key=f"seats:{row.stripe_subscription_id}:{seats}:{_minute()}",
    )
    async with across_organisations(session):
        # Stripe's state after the lock: a webhook that came meanwhile is not undone.
        await lock_subscription(session, row.stripe_subscription_id)
        latest = await provider.subscription(row.stripe_subscription_id)
        applied = (
            await apply_subscription(session, latest, now, settings.billing_grace_days)
            if latest is not None
            else None
        )
        await session.commit()
    return applied or row


async def finish_checkout(
    session: AsyncSession,
    provider: BillingProvider,
    settings: Settings,
    account: Account,
    checkout_id: str,
    tenant_id: uuid.UUID | None = None,
) -> str:
    """Apply the checkout ``account`` came back from; what it gave ("plan" or "bundle"),
    or "open" while nothing is granted yet: the page says "active" only when it is."""
    checkout = await provider.checkout_session(checkout_id)
    metadata = metadata_of(checkout)
    mine = metadata.get("hub_name") == account.username or (
        tenant_id is not None and metadata.get("tenant_id") == str(tenant_id)
    )
    if not mine:
        raise Forbidden("This checkout is someone else's.")
    if checkout.status != "complete":
        return "open"
    now = datetime.now(UTC)
    async with across_organisations(session):
        await complete_checkout(session, provider, checkout, now, settings.billing_grace_days)
        await session.commit()
        if metadata.get("kind") == KIND:
            bought = await owns(session, account.username, uuid.UUID(metadata["bundle_id"]))
            return "bundle" if bought else "open"
        subscription = checkout.subscription
        subscription_id = (
            subscription if isinstance(subscription, str) else getattr(subscription, "id", None)
        )
        row = await session.get(Subscription, subscription_id) if subscription_id else None
        granted = row is not None and grants(row, now, settings.billing_grace_days)
    return "plan" if granted else "open"
