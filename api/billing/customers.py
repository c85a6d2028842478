"""The Stripe customer of a person or an organisation: made once, on their first purchase.

The idempotency key names the owner, so two first purchases at once (two tabs) make one
customer in Stripe, and the row's unique owner index makes one row here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.provider import BillingProvider
from api.models import BillingCustomer


async def _customer(
    session: AsyncSession,
    provider: BillingProvider,
    owner: dict[str, Any],
    *,
    name: str,
    email: str | None,
) -> str:
    """The customer of ``owner`` (``{"hub_name": ...}`` or ``{"tenant_id": ...}``)."""
    ((column, value),) = owner.items()
    where = getattr(BillingCustomer, column) == value
    found = await session.scalar(select(BillingCustomer.stripe_customer_id).where(where))
    if found:
        return str(found)
    key = f"customer:{'user' if column == 'hub_name' else 'tenant'}:{value}"
    customer = await provider.create_customer(
        email=email, name=name, metadata={column: str(value)}, key=key
    )
    await session.execute(
        insert(BillingCustomer)
        .values(stripe_customer_id=customer.id, email=email, **owner)
        .on_conflict_do_nothing()
    )
    await session.commit()
    # Two first purchases at once: the row that was written first is the one.
    found = await session.scalar(select(BillingCustomer.stripe_customer_id).where(where))
    return str(found or customer.id)


async def customer_for_person(
    session: AsyncSession, provider: BillingProvider, hub_name: str, email: str | None
) -> str:
    return await _customer(session, provider, {"hub_name": hub_name}, name=hub_name, email=email)


async def customer_for_organisation(
    session: AsyncSession,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    name: str,
    email: str | None,
) -> str:
    return await _customer(session, provider, {"tenant_id": tenant_id}, name=name, email=email)
