"""Overage: metered use beyond a plan's limit that the plan bills, queued for Stripe.

When a plan lists a meter in ``overage_meters``, use beyond that meter's daily limit is
not refused: each record call that goes beyond it queues a :class:`~api.models.MeterReport`
— the Stripe customer that pays for the plan, the meter event's name
(``datazentr_<meter>``) and the amount beyond the limit this call added — in the same
transaction as the use. A sender reads :func:`pending` and, once Stripe accepted the
events (each under its row id, so a resend is counted once), :func:`mark_sent`.

Who pays: the customer of the subscription that grants the person's plan (their own, or
their organisation's), else the person's own customer, else their organisation's. Without
a customer nothing is queued (an admin-given plan is not billed). ``meter_reports`` is the
platform's table: a person's transaction writes its row in the platform scope for that
one statement, then returns to its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.meters import Reading
from api.models import BillingCustomer, MeterReport, Subscription, UserProfile
from api.organisations.membership import across_organisations

EVENT_PREFIX = "datazentr_"
# Subscription states whose plan the person has (a past-due one keeps it for a while).
HOLDING = ("trialing", "active", "past_due")


def event_name(meter: str) -> str:
    return f"{EVENT_PREFIX}{meter}"


async def customer_for(
    session: AsyncSession, hub_name: str, tenant_id: uuid.UUID | None
) -> str | None:
    """The Stripe customer that pays for ``hub_name``'s plan (platform scope)."""
    profile = (
        await session.execute(
            select(UserProfile.plan_code, UserProfile.tenant_id).where(
                UserProfile.hub_name == hub_name
            )
        )
    ).first()
    if profile is None:
        return None
    tenant_id = tenant_id or profile.tenant_id
    owners = [Subscription.hub_name == hub_name]
    if tenant_id is not None:
        owners.append(Subscription.tenant_id == tenant_id)
    granting: str | None = await session.scalar(
        select(Subscription.stripe_customer_id)
        .where(
            or_(*owners),
            Subscription.plan_code == profile.plan_code,
            Subscription.status.in_(HOLDING),
        )
        # A person's own subscription before their organisation's.
        .order_by(case((Subscription.hub_name.is_(None), 1), else_=0))
        .limit(1)
    )
    if granting is not None:
        return granting
    customers = [BillingCustomer.hub_name == hub_name]
    if tenant_id is not None:
        customers.append(BillingCustomer.tenant_id == tenant_id)
    customer: str | None = await session.scalar(
        select(BillingCustomer.stripe_customer_id)
        .where(or_(*customers))
        .order_by(case((BillingCustomer.hub_name.is_(None), 1), else_=0))
        .limit(1)
    )
    return customer


async def queue(session: AsyncSession, reading: Reading) -> MeterReport | None:
    """Queue the part of ``reading``'s amount beyond the limit (uncommitted); None when
    there is none or nobody to bill."""
    value = reading.beyond
    if value <= 0 or not reading.billed_beyond:
        return None
    async with across_organisations(session):
        customer = await customer_for(session, reading.hub_name, reading.tenant_id)
        if customer is None:
            return None
        report = MeterReport(
            stripe_customer_id=customer, event_name=event_name(reading.meter), value=value
        )
        session.add(report)
        await session.flush()
    return report


async def pending(session: AsyncSession, limit: int = 100) -> list[MeterReport]:
    """The oldest reports not yet sent (platform scope), at most ``limit``; locked, and
    those another sender holds skipped."""
    rows = await session.scalars(
        select(MeterReport)
        .where(MeterReport.sent_at.is_(None))
        .order_by(MeterReport.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def mark_sent(session: AsyncSession, ids: Sequence[int], now: datetime | None = None) -> int:
    """Mark the reports Stripe accepted (uncommitted); how many were still unsent."""
    if not ids:
        return 0
    result = await session.execute(
        update(MeterReport)
        .where(MeterReport.id.in_(list(ids)), MeterReport.sent_at.is_(None))
        .values(sent_at=now or datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
