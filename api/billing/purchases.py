"""Paid marketplace bundles: bought through Stripe Checkout (a one-off payment), owned as
an entitlement, installed at once; a refund takes the entitlement and the install away.

The entitlement is written by the ``checkout.session.completed`` webhook (or by the
buyer's return from Checkout, whichever comes first; the checkout session's id makes it
once). ``marketplace_bundles.sales`` counts paid purchases less refunds, for the author.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.customers import customer_for_person
from api.billing.provider import BillingProvider, checkout_address, metadata_of
from api.core.config import Settings
from api.errors import Conflict
from api.events import append_event
from api.models import Bundle, BundleInstall, BundlePurchase, UserProfile

log = logging.getLogger(__name__)

KIND = "bundle"


def bundle_lookup_key(bundle: Bundle) -> str:
    return f"datazentr_bundle_{bundle.id.hex}_{bundle.price_cents}_{bundle.currency.lower()}"


async def owns(session: AsyncSession, hub_name: str, bundle_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(BundlePurchase.id).where(
            BundlePurchase.bundle_id == bundle_id,
            BundlePurchase.hub_name == hub_name,
            BundlePurchase.status == "paid",
        )
    )
    return found is not None


async def owned_bundles(
    session: AsyncSession, hub_name: str, ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    return set(
        await session.scalars(
            select(BundlePurchase.bundle_id).where(
                BundlePurchase.bundle_id.in_(ids),
                BundlePurchase.hub_name == hub_name,
                BundlePurchase.status == "paid",
            )
        )
    )


async def _price_for(provider: BillingProvider, bundle: Bundle) -> str:
    """The one-off Stripe price of the bundle at its current price (made once)."""
    key = bundle_lookup_key(bundle)
    prices = provider.client.v1.prices
    found = await provider.call(
        "finding the bundle's price",
        lambda: prices.list_async({"lookup_keys": [key], "active": True, "limit": 1}),
    )
    if found.data:
        return str(found.data[0].id)
    products = provider.client.v1.products
    product_id = f"datazentr_bundle_{bundle.id.hex}"
    if not await provider.product_exists(product_id):
        await provider.call(
            "adding the bundle to Stripe",
            lambda: products.create_async(
                {
                    "id": product_id,
                    "name": f"{bundle.title} (pattern bundle)",
                    "metadata": {"kind": KIND, "bundle_id": str(bundle.id)},
                },
                {"idempotency_key": f"product:{product_id}"},
            ),
        )
    price = await provider.call(
        "pricing the bundle",
        lambda: prices.create_async(
            {
                "product": product_id,
                "unit_amount": bundle.price_cents,
                "currency": bundle.currency.lower(),
                "lookup_key": key,
                "metadata": {"kind": KIND, "bundle_id": str(bundle.id)},
            },
            {"idempotency_key": f"price:{key}"},
        ),
    )
    return str(price.id)


async def start_purchase(
    session: AsyncSession,
    provider: BillingProvider,
    settings: Settings,
    *,
    hub_name: str,
    email: str | None,
    bundle: Bundle,
    return_url: str,
) -> str:
    """A Checkout session for the bundle; its address, where the buyer pays."""
    if bundle.price_cents <= 0:
        raise Conflict(f"'{bundle.title}' is free: install it directly.")
    if await owns(session, hub_name, bundle.id):
        raise Conflict(f"You own '{bundle.title}' already: install it from the marketplace.")
    customer = await customer_for_person(session, provider, hub_name, email)
    price = await _price_for(provider, bundle)
    metadata = {"kind": KIND, "bundle_id": str(bundle.id), "hub_name": hub_name}
    checkout = await provider.create_checkout(
        {
            "mode": "payment",
            "customer": customer,
            "client_reference_id": hub_name,
            "line_items": [{"price": price, "quantity": 1}],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": f"{return_url}?checkout={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{return_url}?checkout=cancelled",
        },
        # One open checkout per person, bundle and hour: a second click reuses it.
        key=f"bundle-checkout:{hub_name}:{bundle.id}:{datetime.now(UTC).strftime('%Y%m%d%H%M')}",
    )
    return checkout_address(checkout)


async def entitle(session: AsyncSession, checkout: Any, now: datetime) -> BundlePurchase | None:
    """Record a paid bundle checkout (once per checkout session) and install the bundle."""
    metadata = metadata_of(checkout)
    if metadata.get("kind") != KIND:
        return None
    bundle_id = uuid.UUID(metadata["bundle_id"])
    hub_name = metadata["hub_name"]
    bundle = await session.get(Bundle, bundle_id)
    if bundle is None:
        log.warning("checkout %s: bundle %s is gone", checkout.id, bundle_id)
        return None
    profile = await session.scalar(select(UserProfile).where(UserProfile.hub_name == hub_name))
    tenant_id = profile.tenant_id if profile else None
    intent = checkout.payment_intent
    intent_id = intent if isinstance(intent, str) or intent is None else intent.id
    purchase_id = await session.scalar(
        insert(BundlePurchase)
        .values(
            bundle_id=bundle_id,
            hub_name=hub_name,
            tenant_id=tenant_id,
            checkout_session_id=checkout.id,
            payment_intent_id=intent_id,
            amount_cents=int(checkout.amount_total or bundle.price_cents),
            currency=str(checkout.currency or bundle.currency).upper()[:3],
            purchased_at=now,
        )
        .on_conflict_do_nothing()
        .returning(BundlePurchase.id)
    )
    if purchase_id is None:
        return None  # this checkout, or another paid purchase of the bundle, is recorded
    await session.execute(
        update(Bundle).where(Bundle.id == bundle_id).values(sales=Bundle.sales + 1)
    )
    installed = await session.scalar(
        insert(BundleInstall)
        .values(bundle_id=bundle_id, user_name=hub_name, tenant_id=tenant_id)
        .on_conflict_do_nothing(index_elements=[BundleInstall.bundle_id, BundleInstall.user_name])
        .returning(BundleInstall.bundle_id)
    )
    if installed is not None:
        await session.execute(
            update(Bundle).where(Bundle.id == bundle_id).values(downloads=Bundle.downloads + 1)
        )
    append_event(
        session,
        stream=f"user:{hub_name}",
        type="billing.bundle_bought",
        actor=hub_name,
        payload={"bundle": str(bundle_id), "checkout": checkout.id},
        tenant_id=tenant_id,
    )
    return await session.get(BundlePurchase, purchase_id)


async def refund(
    session: AsyncSession, provider: BillingProvider, charge_id: str, now: datetime
) -> None:
    """A refunded charge takes away the bundle it paid for (entitlement and install)."""
    charge = await provider.client.v1.charges.retrieve_async(charge_id)
    if not charge.refunded:
        return  # a partial refund keeps the bundle
    intent = charge.payment_intent
    intent_id = intent if isinstance(intent, str) or intent is None else intent.id
    if intent_id is None:
        return
    purchase = await session.scalar(
        select(BundlePurchase)
        .where(BundlePurchase.payment_intent_id == intent_id, BundlePurchase.status == "paid")
        .with_for_update()
    )
    if purchase is None:
        return
    purchase.status = "refunded"
    purchase.refunded_at = now
    await session.execute(
        update(Bundle).where(Bundle.id == purchase.bundle_id).values(sales=Bundle.sales - 1)
    )
    await session.execute(
        delete(BundleInstall).where(
            BundleInstall.bundle_id == purchase.bundle_id,
            BundleInstall.user_name == purchase.hub_name,
        )
    )
    append_event(
        session,
        stream=f"user:{purchase.hub_name}",
        type="billing.bundle_refunded",
        actor="stripe",
        payload={"bundle": str(purchase.bundle_id), "charge": charge_id},
        tenant_id=purchase.tenant_id,
    )


async def purchases_of(session: AsyncSession, hub_name: str) -> list[tuple[BundlePurchase, Bundle]]:
    rows = await session.execute(
        select(BundlePurchase, Bundle)
        .join(Bundle, Bundle.id == BundlePurchase.bundle_id)
        .where(BundlePurchase.hub_name == hub_name)
        .order_by(BundlePurchase.purchased_at.desc())
    )
    return [(purchase, bundle) for purchase, bundle in rows]
