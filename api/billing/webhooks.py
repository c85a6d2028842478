"""Stripe's webhook endpoint: ``POST /services/api/billing/webhook``.

Stripe delivers each event at least once, in any order, and retries for days until it gets
a 2xx. So: the signature is checked on the raw body (``Webhook.construct_event``, Stripe's
default tolerance of five minutes; during a secret's rotation the previous secret is
accepted too); the event's id is written in the same transaction as its effect, so a
repeat answers 200 and changes nothing; the objects it names are fetched again from
Stripe rather than trusted in the order they came; types the platform does not use are
acknowledged and ignored. A failure to reach Stripe answers 503, and Stripe retries.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing import purchases, trials
from api.billing.provider import (
    BillingProvider,
    StripeRefused,
    StripeUnavailable,
    billing_of,
)
from api.billing.subscriptions import apply_subscription, lock_subscription
from api.core.config import Settings
from api.core.tenancy import PLATFORM, set_scope
from api.deps import SessionDep, settings_of
from api.models import StripeEvent

log = logging.getLogger(__name__)

router = APIRouter(prefix="/billing", tags=["billing"])

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"})


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"status": status, "code": "webhook_refused", "message": message}},
        status_code=status,
    )


def verified_event(payload: bytes, signature: str | None, settings: Settings) -> stripe.Event:
    """The event if one of the endpoint's secrets signed ``payload``; raises
    ``SignatureVerificationError`` or ``ValueError`` otherwise."""
    secrets = [
        secret.get_secret_value()
        for secret in (settings.stripe_webhook_secret, settings.stripe_webhook_secret_previous)
        if secret is not None
    ]
    if not secrets:
        raise ValueError("no webhook secret is configured (DATAZENTR_STRIPE_WEBHOOK_SECRET)")
    failure: stripe.SignatureVerificationError | None = None
    for secret in secrets:
        try:
            event: stripe.Event = stripe.Webhook.construct_event(payload, signature, secret)
            return event
        except stripe.SignatureVerificationError as exc:
            failure = exc
    assert failure is not None
    raise failure


@router.post(
    "/webhook",
    summary="Stripe's webhook (signed by Stripe; not for people)",
    responses={400: {"description": "Not signed by Stripe with this endpoint's secret."}},
)
async def stripe_webhook(request: Request, session: SessionDep) -> JSONResponse:
    settings = settings_of(request)
    if not settings.billing_enabled:
        return _problem(404, "Billing is not enabled on this platform.")
    payload = await request.body()
    try:
        event = verified_event(payload, request.headers.get("stripe-signature"), settings)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        log.warning("webhook refused: %s", exc)
        return _problem(400, "The event is not signed with this endpoint's secret, or is stale.")
    await set_scope(session, PLATFORM)
    recorded = await session.scalar(
        insert(StripeEvent)
        .values(id=event.id, type=event.type)
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    if recorded is None:
        await session.rollback()
        return JSONResponse({"received": True, "duplicate": True})
    try:
        handled = await handle(session, billing_of(request), settings, event)
    except (stripe.StripeError, StripeUnavailable, StripeRefused) as exc:
        await session.rollback()
        log.warning("webhook %s (%s): Stripe failed: %s", event.id, event.type, exc)
        return _problem(503, "Stripe could not be reached to read the event's objects; retry.")
    await session.commit()
    await trials.mail_trial_ending(session, settings)
    return JSONResponse({"received": True, "handled": handled})


async def handle(
    session: AsyncSession, provider: BillingProvider, settings: Settings, event: stripe.Event
) -> bool:
    """Apply one event's effect (in the caller's transaction); whether the type is used."""
    now = datetime.now(UTC)
    data: Any = event.data.object
    grace = settings.billing_grace_days
    if event.type in SUBSCRIPTION_EVENTS or event.type == "customer.subscription.trial_will_end":
        await refresh_subscription(session, provider, str(data["id"]), now, grace)
        if event.type == "customer.subscription.trial_will_end":
            await trials.notify_trial_ending(session, settings, str(data["id"]), now)
        return True
    if event.type in INVOICE_EVENTS:
        subscription_id = _subscription_of_invoice(data)
        if subscription_id:
            await refresh_subscription(session, provider, subscription_id, now, grace)
        return True
    if event.type == "checkout.session.completed":
        checkout = await provider.client.v1.checkout.sessions.retrieve_async(str(data["id"]))
        await complete_checkout(session, provider, checkout, now, grace)
        return True
    if event.type == "charge.refunded":
        await purchases.refund(session, provider, str(data["id"]), now)
        return True
    log.info("webhook %s: type %s is not used", event.id, event.type)
    return False


def _subscription_of_invoice(invoice: Any) -> str | None:
    subscription = invoice.get("subscription")
    if subscription is None:
        # API versions from 2025 name it under parent.subscription_details.
        parent = invoice.get("parent") or {}
        subscription = (parent.get("subscription_details") or {}).get("subscription")
    if isinstance(subscription, dict):
        subscription = subscription.get("id")
    return str(subscription) if subscription else None


async def refresh_subscription(
    session: AsyncSession,
    provider: BillingProvider,
    subscription_id: str,
    now: datetime,
    grace_days: int,
) -> None:
    await lock_subscription(session, subscription_id)
    remote = await provider.subscription(subscription_id)
    if remote is None:
        log.warning("subscription %s: Stripe does not know it", subscription_id)
        return
    await apply_subscription(session, remote, now, grace_days)


async def complete_checkout(
    session: AsyncSession,
    provider: BillingProvider,
    checkout: stripe.checkout.Session,
    now: datetime,
    grace_days: int,
) -> None:
    """What a finished checkout gives: a subscription's plan, or a bought bundle."""
    if checkout.status != "complete":
        return
    if checkout.mode == "subscription" and checkout.subscription:
        subscription = checkout.subscription
        subscription_id = subscription if isinstance(subscription, str) else subscription.id
        await refresh_subscription(session, provider, subscription_id, now, grace_days)
    elif checkout.mode == "payment" and checkout.payment_status == "paid":
        await purchases.entitle(session, checkout, now)
