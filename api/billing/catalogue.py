"""The plans table, mirrored into Stripe's catalogue: one product per plan that is sold,
with a monthly and a yearly price. Run as ``python -m api.billing.catalogue`` (or
``make billing-sync``) after changing prices; running it again changes nothing.

The plans table stays the source of limits and prices. Products get stable ids
(``datazentr_<plan>``) and prices stable lookup keys (``datazentr_<plan>_<interval>``), so
the sync finds what it made before. Stripe prices cannot change their amount: a new
amount is a new price that takes over the lookup key, and the old one is archived.
Free and "contact us" plans (no monthly price) are not sold.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.provider import BillingProvider
from api.core.config import Settings, get_settings
from api.core.db import Database
from api.core.logging import configure_logging
from api.core.tenancy import PLATFORM
from api.models import Plan

log = logging.getLogger(__name__)

INTERVALS = ("month", "year")


def product_id(plan: Plan) -> str:
    return f"datazentr_{plan.code}"


def lookup_key(plan: Plan, interval: str) -> str:
    return f"datazentr_{plan.code}_{interval}"


def amount_for(plan: Plan, interval: str) -> int | None:
    return plan.price_cents_per_month if interval == "month" else plan.price_cents_per_year


@dataclass(frozen=True)
class SyncedPlan:
    code: str
    product_id: str
    prices: dict[str, str]  # interval -> price id
    created: list[str]  # what this run made (empty: everything existed)


async def _product(provider: BillingProvider, plan: Plan, created: list[str]) -> str:
    client = provider.client.v1.products
    name = f"{plan.name} plan"
    product = await provider.find(
        "reading the plan's product", lambda: client.retrieve_async(product_id(plan))
    )
    if product is None:
        product = await client.create_async(
            {
                "id": product_id(plan),
                "name": name,
                "metadata": {"plan": plan.code},
                "description": _description(plan),
            },
            {"idempotency_key": f"product:{product_id(plan)}"},
        )
        created.append(product.id)
        return str(product.id)
    if product.name != name or not product.active:
        await client.update_async(product.id, {"name": name, "active": True})
    return str(product.id)


def _description(plan: Plan) -> str:
    minutes = (
        "unlimited session time"
        if plan.daily_minutes is None
        else (f"{plan.daily_minutes // 60} h {plan.daily_minutes % 60:02d} min a day")
    )
    seat = " per seat" if plan.per_seat else ""
    return (
        f"{plan.cpu_limit:g} CPU, {plan.memory_limit_mb // 1024} GB memory, {minutes}, "
        f"{plan.storage_gb} GB storage{seat}."
    )


async def _price(
    provider: BillingProvider,
    plan: Plan,
    product: str,
    interval: str,
    currency: str,
    created: list[str],
) -> str | None:
    amount = amount_for(plan, interval)
    if not amount:
        return None
    client = provider.client.v1.prices
    key = lookup_key(plan, interval)
    found = await client.list_async({"lookup_keys": [key], "active": True, "limit": 10})
    for price in found.data:
        recurring = price.recurring
        if (
            price.unit_amount == amount
            and price.currency == currency
            and recurring is not None
            and recurring.interval == interval
            and price.product == product
        ):
            return str(price.id)
    price = await client.create_async(
        {
            "product": product,
            "unit_amount": amount,
            "currency": currency,
            "recurring": {"interval": interval, "usage_type": "licensed"},
            "lookup_key": key,
            "transfer_lookup_key": True,
            "nickname": f"{plan.name} ({'monthly' if interval == 'month' else 'yearly'})",
            "metadata": {"plan": plan.code, "interval": interval},
        },
        {"idempotency_key": f"price:{key}:{amount}:{currency}"},
    )
    created.append(price.id)
    for old in found.data:
        await client.update_async(old.id, {"active": False})
    return str(price.id)


async def sync_catalogue(
    session: AsyncSession, provider: BillingProvider, settings: Settings
) -> list[SyncedPlan]:
    """Make Stripe's catalogue match the sold plans; store Stripe's ids on the plans."""
    synced = []
    plans = await session.scalars(select(Plan).order_by(Plan.rank))
    for plan in plans.all():
        if not plan.sold:
            continue
        created: list[str] = []
        product = await _product(provider, plan, created)
        prices = {}
        for interval in INTERVALS:
            price = await _price(
                provider, plan, product, interval, settings.billing_currency, created
            )
            if price:
                prices[interval] = price
        plan.stripe_product_id = product
        plan.stripe_price_month_id = prices.get("month")
        plan.stripe_price_year_id = prices.get("year")
        synced.append(SyncedPlan(plan.code, product, prices, created))
        log.info(
            "plan %s: product %s, prices %s%s",
            plan.code,
            product,
            prices,
            f" (new: {', '.join(created)})" if created else "",
        )
    await session.commit()
    return synced


async def plan_for_price(session: AsyncSession, price_id: str) -> tuple[Plan, str] | None:
    """The plan a Stripe price sells, and its interval."""
    plan = await session.scalar(
        select(Plan).where(
            (Plan.stripe_price_month_id == price_id) | (Plan.stripe_price_year_id == price_id)
        )
    )
    if plan is None:
        return None
    return plan, "month" if plan.stripe_price_month_id == price_id else "year"


async def _main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    database = Database(settings.app_sqlalchemy_url)
    try:
        async with database.scoped(PLATFORM) as session:
            for plan in await sync_catalogue(session, BillingProvider(settings), settings):
                state = f"created {', '.join(plan.created)}" if plan.created else "unchanged"
                print(f"{plan.code}: {plan.product_id} {plan.prices} — {state}")
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
