"""Billing rows for tests that decide plans without Stripe: a person's or an
organisation's customer and subscription as the webhooks would have written them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from api.core.db import Database
from api.models import BillingCustomer, Subscription, Tenant, UserProfile


def stripe_id(prefix: str) -> str:
    return f"{prefix}_test_{uuid.uuid4().hex[:14]}"


async def person_with_plan(database: Database, plan_code: str = "free") -> str:
    """A hub user with a profile on ``plan_code``; their name."""
    name = f"b-{uuid.uuid4().hex[:10]}"
    async with database.sessionmaker() as session:
        session.add(UserProfile(hub_name=name, plan_code=plan_code))
        await session.commit()
    return name


async def organisation(database: Database, members: int = 2) -> tuple[uuid.UUID, list[str]]:
    """An organisation with ``members`` members (the first its admin); its id and names."""
    slug = f"org-{uuid.uuid4().hex[:8]}"
    async with database.sessionmaker() as session:
        tenant = Tenant(slug=slug, name=slug.title())
        session.add(tenant)
        await session.flush()
        names = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(members)]
        for index, name in enumerate(names):
            session.add(
                UserProfile(
                    hub_name=name,
                    tenant_id=tenant.id,
                    tenant_role="admin" if index == 0 else "member",
                )
            )
        await session.commit()
        return tenant.id, names


async def subscription_row(
    database: Database,
    *,
    plan_code: str,
    status: str,
    hub_name: str | None = None,
    tenant_id: uuid.UUID | None = None,
    quantity: int = 1,
    past_due_since: datetime | None = None,
    trial_end: datetime | None = None,
) -> str:
    """A customer and a subscription as Stripe's events would have left them; its id."""
    subscription = stripe_id("sub")
    now = datetime.now(UTC)
    async with database.sessionmaker() as session:
        owner = (
            BillingCustomer.hub_name == hub_name
            if hub_name
            else BillingCustomer.tenant_id == tenant_id
        )
        customer = await session.scalar(select(BillingCustomer.stripe_customer_id).where(owner))
        if customer is None:
            customer = stripe_id("cus")
            session.add(
                BillingCustomer(stripe_customer_id=customer, hub_name=hub_name, tenant_id=tenant_id)
            )
        session.add(
            Subscription(
                stripe_subscription_id=subscription,
                stripe_customer_id=customer,
                hub_name=hub_name,
                tenant_id=tenant_id,
                plan_code=plan_code,
                price_id=stripe_id("price"),
                interval="month",
                status=status,
                quantity=quantity,
                trial_end=trial_end,
                current_period_end=now + timedelta(days=30),
                past_due_since=past_due_since,
                stripe_created_at=now,
            )
        )
        await session.commit()
    return subscription
