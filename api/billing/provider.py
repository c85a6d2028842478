"""The platform's one way to Stripe: stripe-python's ``StripeClient``, asynchronous.

``BillingProvider`` wraps exactly the calls billing makes, turns Stripe's failures into
errors a person can act on, and carries an idempotency key on every write that may be
repeated (a retried request or a second click creates nothing twice). ``stripe_api_base``
points it at a Stripe-compatible server for tests; by default it talks to Stripe itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe
from fastapi import Request
from stripe._base_address import BaseAddresses

from api.core.config import Settings
from api.errors import ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long one Stripe request may take; Stripe answers in well under a second.
TIMEOUT_SECONDS = 20.0


class BillingNotEnabled(ApiError):
    status = 404
    code = "billing_not_enabled"

    def __init__(self) -> None:
        super().__init__(
            "Billing is not enabled on this platform: plans are the free one or those its "
            "admins assign. Ask an admin for a larger plan."
        )


class StripeUnavailable(ApiError):
    status = 502
    code = "stripe_unavailable"


class AlreadyFinished(ApiError):
    status = 409
    code = "checkout_finished"


class StripeRefused(ApiError):
    status = 422
    code = "stripe_refused"


class BillingProvider:
    """Stripe, for the platform's catalogue, checkout, portal, subscriptions and meters."""

    def __init__(self, settings: Settings) -> None:
        if settings.stripe_secret_key is None:
            raise BillingNotEnabled()
        base: BaseAddresses = {}
        if settings.stripe_api_base:
            base["api"] = settings.stripe_api_base
        self.client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses=base,
            http_client=stripe.HTTPXClient(timeout=TIMEOUT_SECONDS, allow_sync_methods=True),
            max_network_retries=2,
        )

    async def call(self, doing: str, request: Callable[[], Awaitable[T]]) -> T:
        """Run one Stripe request; ``doing`` names it in the error a person sees."""
        try:
            return await request()
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:  # (not knowing an object is often the expected answer)
                log.warning("Stripe refused %s: %s", doing, exc.user_message or exc)
            raise StripeRefused(
                f"Stripe refused {doing}: {exc.user_message or 'the request was invalid'}."
            ) from exc
        except stripe.StripeError as exc:
            log.warning("Stripe failed %s: %s", doing, type(exc).__name__)
            raise StripeUnavailable(
                f"Stripe did not answer while {doing}; nothing was charged. Try again in a minute."
            ) from exc

    async def find(self, doing: str, request: Callable[[], Awaitable[T]]) -> T | None:
        """Like :meth:`call`, but None for an object Stripe does not know (404)."""
        try:
            return await self.call(doing, request)
        except StripeRefused as exc:
            cause = exc.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.http_status == 404:
                return None
            raise

    async def product_exists(self, product_id: str) -> bool:
        found = await self.find(
            "reading the product", lambda: self.client.v1.products.retrieve_async(product_id)
        )
        return found is not None

    # Objects are re-fetched by id: a webhook's payload may be older than Stripe's state.

    async def subscription(self, subscription_id: str) -> stripe.Subscription | None:
        return await self.find(
            "reading the subscription",
            lambda: self.client.v1.subscriptions.retrieve_async(subscription_id),
        )

    async def checkout_session(self, session_id: str) -> stripe.checkout.Session:
        return await self.call(
            "reading the checkout",
            lambda: self.client.v1.checkout.sessions.retrieve_async(session_id),
        )

    async def create_customer(
        self, *, email: str | None, name: str, metadata: dict[str, str], key: str
    ) -> stripe.Customer:
        params: dict[str, Any] = {"name": name, "metadata": metadata}
        if email:
            params["email"] = email
        return await self.call(
            "creating the customer",
            lambda: self.client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            ),
        )

    async def create_checkout(self, params: dict[str, Any], key: str) -> stripe.checkout.Session:
        return await self.call(
            "starting the checkout",
            lambda: self.client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": key},
            ),
        )

    async def create_portal(self, customer_id: str, return_url: str) -> str:
        portal = await self.call(
            "opening the billing portal",
            lambda: self.client.v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": return_url}
            ),
        )
        return str(portal.url)

    async def change_quantity(
        self, subscription_id: str, item_id: str, quantity: int, key: str
    ) -> stripe.Subscription:
        return await self.call(
            "changing the seats",
            lambda: self.client.v1.subscriptions.update_async(
                subscription_id,
                {
                    "items": [{"id": item_id, "quantity": quantity}],
                    "proration_behavior": "create_prorations",
                },
                {"idempotency_key": key},
            ),
        )

    async def meter_event(
        self, event_name: str, customer_id: str, value: int, identifier: str
    ) -> None:
        await self.call(
            "reporting usage",
            lambda: self.client.v1.billing.meter_events.create_async(
                {
                    "event_name": event_name,
                    "identifier": identifier,
                    "payload": {"stripe_customer_id": customer_id, "value": str(value)},
                }
            ),
        )


def checkout_address(checkout: stripe.checkout.Session) -> str:
    if checkout.status != "open" or not checkout.url:
        raise AlreadyFinished(
            "That checkout is finished already. Reload the billing page to see your plan, or "
            "try again in a minute."
        )
    return str(checkout.url)


def metadata_of(stripe_object: Any) -> dict[str, str]:
    """An object's metadata as a plain dict (empty when it has none)."""
    metadata = getattr(stripe_object, "metadata", None) or {}
    if isinstance(metadata, stripe.StripeObject):
        metadata = metadata.to_dict()
    return {str(key): str(value) for key, value in metadata.items()}


def billing_of(request: Request) -> BillingProvider:
    """The app's provider (made once per app), or BillingNotEnabled without a Stripe key."""
    state = request.app.state
    provider: BillingProvider | None = getattr(state, "billing", None)
    if provider is None:
        provider = BillingProvider(state.settings)
        state.billing = provider
    return provider
