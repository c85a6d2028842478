"""Billing over the api: plans for sale, my subscriptions and purchases, checkout and the
billing portal, buying a paid bundle, and the catalogue sync for platform admins.

Browsers use the billing page (``/services/api/accounts/billing``); these are the same
actions for scripts and the JupyterLab and dashboard front ends.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from fastapi import APIRouter, Request
from sqlalchemy import select

from api.billing import billing_page_url, catalogue, checkout, purchases
from api.billing.provider import StripeUnavailable, billing_of
from api.billing.subscriptions import Owner, subscriptions_of
from api.deps import AdminUser, CurrentUser, SessionDep, SettingsDep
from api.errors import NotFound
from api.marketplace import catalogue as marketplace
from api.models import Account, Plan
from api.patterns.library import viewer_for
from api.profiles import get_or_create_profile
from api.schemas.billing import (
    BillingOut,
    CheckoutIn,
    PlanOffer,
    PurchaseOut,
    RedirectOut,
    SubscriptionOut,
    SyncedPlanOut,
)
from api.schemas.me import PlanOut

router = APIRouter(tags=["billing"])

NOT_ENABLED: dict[int | str, dict[str, Any]] = {
    404: {"description": "Billing is not enabled on this platform."}
}


def offer(plan: Plan, billing_enabled: bool) -> PlanOffer:
    data = PlanOut.model_validate(plan).model_dump()
    return PlanOffer(
        **data,
        price_cents_per_year=plan.price_cents_per_year,
        trial_days=plan.trial_days,
        per_seat=plan.per_seat,
        requires_student_status=plan.requires_student_status,
        sold=billing_enabled and plan.sold and plan.stripe_price_month_id is not None,
        contact_sales=plan.contact_sales,
        api_calls_per_day=plan.api_calls_per_day,
        agent_steps_per_day=plan.agent_steps_per_day,
        patterns_used_per_day=plan.patterns_used_per_day,
        assistant_tokens_per_day=plan.assistant_tokens_per_day,
    )


@router.get("/billing/plans", summary="The plans, their limits and prices")
async def plans_for_sale(
    _: CurrentUser, session: SessionDep, settings: SettingsDep
) -> list[PlanOffer]:
    rows = await session.scalars(select(Plan).order_by(Plan.rank))
    return [offer(plan, settings.billing_enabled) for plan in rows]


@router.get(
    "/me/billing", response_model=BillingOut, summary="My plan, subscriptions and purchases"
)
async def my_billing(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> BillingOut:
    profile = await get_or_create_profile(session, user)
    bought = await purchases.purchases_of(session, user.name)
    return BillingOut(
        billing_enabled=settings.billing_enabled,
        plan=PlanOut.model_validate(profile.plan),
        subscriptions=[
            SubscriptionOut.model_validate(row)
            for row in await subscriptions_of(session, Owner(hub_name=user.name))
        ],
        purchases=[
            PurchaseOut(
                bundle_id=bundle.id,
                bundle_title=bundle.title,
                amount_cents=purchase.amount_cents,
                currency=purchase.currency,
                status=purchase.status,
                purchased_at=purchase.purchased_at,
                refunded_at=purchase.refunded_at,
            )
            for purchase, bundle in bought
        ],
        billing_page=billing_page_url(settings),
    )


async def _account(session: SessionDep, name: str) -> Account:
    account = await session.scalar(select(Account).where(Account.username == name))
    if account is None:
        raise NotFound(
            "Buying needs a platform account (with a confirmed address); this hub user has none."
        )
    return account


@router.post(
    "/me/billing/checkout",
    response_model=RedirectOut,
    responses=NOT_ENABLED,
    summary="Start Stripe Checkout for a plan of my own",
)
async def start_checkout(
    body: CheckoutIn,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> RedirectOut:
    provider = billing_of(request)
    account = await _account(session, user.name)
    url = await checkout.start_personal_checkout(
        session, provider, settings, account, body.plan, body.interval
    )
    return RedirectOut(url=url)


@router.post(
    "/me/billing/portal",
    response_model=RedirectOut,
    responses=NOT_ENABLED,
    summary="Open Stripe's billing portal (payment method, invoices, cancel)",
)
async def open_portal(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> RedirectOut:
    provider = billing_of(request)
    url = await checkout.portal_url(
        session, provider, Owner(hub_name=user.name), billing_page_url(settings)
    )
    return RedirectOut(url=url)


@router.post(
    "/marketplace/bundles/{bundle_id}/purchase",
    response_model=RedirectOut,
    responses={**NOT_ENABLED, 409: {"description": "Free, or yours already."}},
    summary="Buy a paid bundle through Stripe Checkout",
)
async def purchase_bundle(
    bundle_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> RedirectOut:
    provider = billing_of(request)
    viewer = await viewer_for(session, user)
    bundle = await marketplace.get_bundle(session, viewer, bundle_id)
    account = await _account(session, user.name)
    url = await purchases.start_purchase(
        session,
        provider,
        settings,
        hub_name=user.name,
        email=account.email if account.email_verified_at else None,
        bundle=bundle,
        return_url=billing_page_url(settings),
    )
    return RedirectOut(url=url)


@router.post(
    "/admin/billing/sync",
    responses=NOT_ENABLED,
    summary="Make Stripe's products and prices match the plans (idempotent)",
)
async def sync_catalogue(
    request: Request, _: AdminUser, session: SessionDep, settings: SettingsDep
) -> list[SyncedPlanOut]:
    try:
        synced = await catalogue.sync_catalogue(session, billing_of(request), settings)
    except stripe.StripeError as exc:
        raise StripeUnavailable(
            f"Stripe failed during the sync: {exc.user_message or exc}"
        ) from exc
    return [SyncedPlanOut(**vars(plan)) for plan in synced]
