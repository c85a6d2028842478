"""The Stripe customer of a person or an organisation: made once, on their first purchase.

The idempotency key names the owner, so two first purchases at once (two tabs) make one
customer in Stripe, and the row's unique owner index makes one row here.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.provider import BillingProvider
from api.models import BillingCustomer


async def _existing(session: AsyncSession, where: object) -> str | None:
    found = await session.scalar(select(BillingCustomer.stripe_customer_id).where(where))  # type: ignore[arg-type]
    return str(found) if found else None


async def customer_for_person(
    session: AsyncSession, provider: BillingProvider, hub_name: str, email: str | None
) -> str:
    found = await _existing(session, BillingCustomer.hub_name == hub_name)
    if found:
        return found
    customer = await provider.create_customer(
        email=email,
        name=hub_name,
        metadata={"hub_name": hub_name},
        key=f"customer:user:{hub_name}",
    )
    await session.execute(
        insert(BillingCustomer)
        .values(stripe_customer_id=customer.id, hub_name=hub_name, email=email)
        .on_conflict_do_nothing()
    )
    await session.commit()
    return await _existing(session, BillingCustomer.hub_name == hub_name) or customer.id


async def customer_for_organisation(
    session: AsyncSession,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    name: str,
    email: str | None,
) -> str:
    found = await _existing(session, BillingCustomer.tenant_id == tenant_id)
    if found:
        return found
    customer = await provider.create_customer(
        email=email,
        name=name,
        metadata={"tenant_id": str(tenant_id)},
        key=f"customer:tenant:{tenant_id}",
    )
    await session.execute(
        insert(BillingCustomer)
        .values(stripe_customer_id=customer.id, tenant_id=tenant_id, email=email)
        .on_conflict_do_nothing()
    )
    await session.commit()
    return await _existing(session, BillingCustomer.tenant_id == tenant_id) or customer.id
