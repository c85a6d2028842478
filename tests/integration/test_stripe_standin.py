"""The Stripe the tests use, through stripe-python's real client: prices that are
localstripe plans, the hosted checkout and portal pages, signed webhooks, refunds,
meter events and idempotency keys."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe

from tests.support.stripe_server import StripeServers, stripe_servers

DAY = 86400


class Receiver:
    """A webhook endpoint on loopback that keeps each body and its signature header."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        self.changed = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.changed:
                    outer.received.append((body, self.headers.get("Stripe-Signature")))
                    outer.changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/billing/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, secret: str, type: str) -> list[stripe.Event]:
        """Every event of ``type`` received, each verified by stripe-python."""
        with self.changed:
            received = list(self.received)
        events = [stripe.Webhook.construct_event(body, header, secret) for body, header in received]
        return [event for event in events if event.type == type]

    def wait_for(self, secret: str, type: str, object_id: str) -> stripe.Event:
        """The first event of ``type`` about ``object_id``, once it has arrived."""

        def found() -> list[stripe.Event]:
            return [e for e in self.events(secret, type) if e.data.object["id"] == object_id]

        with self.changed:
            arrived = self.changed.wait_for(found, timeout=60)
        assert arrived, f"no {type} for {object_id}"
        return found()[0]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture(scope="module")
def servers(receiver: Receiver) -> Iterator[StripeServers]:
    with stripe_servers(receiver.url) as servers:
        yield servers


def about(receiver: Receiver, servers: StripeServers, type: str, object_id: str) -> list[Any]:
    return [
        e for e in receiver.events(servers.webhook_secret, type) if e.data.object["id"] == object_id
    ]


def monthly_plan(client: stripe.StripeClient, amount: int = 1900) -> tuple[str, str]:
    product = client.v1.products.create({"name": f"Team {uuid.uuid4().hex[:6]}"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": amount,
            "currency": "eur",
            "recurring": {"interval": "month", "usage_type": "licensed"},
            "nickname": "Team (monthly)",
            "lookup_key": f"team_month_{uuid.uuid4().hex[:6]}",
            "metadata": {"plan": "team"},
        }
    )
    return product.id, price.id


def pay(checkout_url: str, **fields: str) -> httpx.Response:
    """Open the hosted checkout and press its button, as a person would."""
    page = httpx.get(checkout_url)
    assert page.status_code == 200
    assert 'id="pay"' in page.text
    return httpx.post(
        checkout_url, data={"card_number": "4242 4242 4242 4242", **fields}, timeout=60
    )


def test_a_recurring_price_is_also_a_localstripe_plan(servers: StripeServers) -> None:
    client = servers.client()
    product, price_id = monthly_plan(client)

    price = client.v1.prices.retrieve(price_id)
    plan = client.v1.plans.retrieve(price_id)
    assert (price.object, price.type, price.unit_amount, price.product) == (
        "price",
        "recurring",
        1900,
        product,
    )
    assert price.recurring is not None and price.recurring.interval == "month"
    assert (plan.id, plan.amount, plan.interval, plan.product) == (price_id, 1900, "month", product)
    assert price.lookup_key is not None
    found = client.v1.prices.list({"lookup_keys": [price.lookup_key], "active": True})
    assert [p.id for p in found.data] == [price_id]

    moved = client.v1.prices.create(
        {
            "product": product,
            "unit_amount": 2100,
            "currency": "eur",
            "recurring": {"interval": "month"},
            "lookup_key": price.lookup_key,
            "transfer_lookup_key": True,
        }
    )
    client.v1.prices.update(price_id, {"active": False})
    assert client.v1.prices.retrieve(price_id).lookup_key is None
    found = client.v1.prices.list({"lookup_keys": [price.lookup_key], "active": True})
    assert [p.id for p in found.data] == [moved.id]
    assert client.v1.plans.retrieve(price_id).active is False

    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.prices.create(
            {
                "product": product,
                "unit_amount": 5,
                "currency": "eur",
                "lookup_key": price.lookup_key,
            }
        )
    assert taken.value.param == "lookup_key"


def test_a_trial_checkout_sends_a_signed_completion_and_starts_trialing(
    servers: StripeServers, receiver: Receiver
) -> None:
    client = servers.client()
    _, price_id = monthly_plan(client)
    customer = client.v1.customers.create({"email": "ada@example.org", "name": "Ada"})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": "ada",
            "line_items": [{"price": price_id, "quantity": 1}],
            "subscription_data": {"trial_period_days": 14, "metadata": {"hub_name": "ada"}},
            "metadata": {"kind": "plan"},
            "success_url": "http://127.0.0.1:9/billing?checkout={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:9/billing?checkout=cancelled",
        }
    )
    assert (session.object, session.status, session.payment_status) == (
        "checkout.session",
        "open",
        "unpaid",
    )
    assert session.url == servers.checkout_url(session.id)
    assert session.id.startswith("cs_test_") and session.subscription is None

    page = httpx.get(session.url)
    assert "14-day free trial" in page.text and "4242 4242 4242 4242" in page.text
    assert "Start trial" in page.text
    assert 'href="http://127.0.0.1:9/billing?checkout=cancelled"' in page.text
    paid = pay(session.url)

    assert paid.status_code == 303
    assert paid.headers["location"] == f"http://127.0.0.1:9/billing?checkout={session.id}"
    [completed] = about(receiver, servers, "checkout.session.completed", session.id)
    assert completed.data.object["status"] == "complete"
    assert completed.data.object["metadata"].to_dict() == {"kind": "plan"}
    after = client.v1.checkout.sessions.retrieve(session.id)
    assert (after.status, after.payment_status) == ("complete", "no_payment_required")
    [line] = client.v1.checkout.sessions.line_items.list(session.id).data
    assert (line.price is not None and line.price.id, line.quantity) == (price_id, 1)
    assert isinstance(after.subscription, str)
    subscription = client.v1.subscriptions.retrieve(after.subscription)
    item = subscription["items"].data[0]
    assert subscription.status == "trialing"
    assert subscription.metadata.to_dict() == {"hub_name": "ada"}
    assert subscription.trial_end is not None and subscription.trial_start is not None
    assert subscription.trial_end - subscription.trial_start == 14 * DAY
    assert item.price.id == price_id and item.plan.id == price_id
    assert item.current_period_end == subscription.trial_end
    trialing = client.v1.subscriptions.list({"customer": customer.id, "status": "trialing"})
    assert [s.id for s in trialing.data] == [subscription.id]


def test_the_portal_and_the_api_send_subscription_updated(
    servers: StripeServers, receiver: Receiver
) -> None:
    client = servers.client()
    _, price_id = monthly_plan(client)
    _, other_price = monthly_plan(client, amount=4900)
    customer = client.v1.customers.create({"email": "grace@example.org"})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price_id, "quantity": 2}],
            "success_url": "http://127.0.0.1:9/done",
        }
    )
    assert pay(str(session.url)).status_code == 303
    subscription_id = str(client.v1.checkout.sessions.retrieve(session.id).subscription)
    assert client.v1.subscriptions.retrieve(subscription_id).status == "active"

    portal = client.v1.billing_portal.sessions.create(
        {"customer": customer.id, "return_url": "http://127.0.0.1:9/billing"}
    )
    assert portal.object == "billing_portal.session"
    assert portal.url == servers.portal_url(portal.id)
    page = httpx.get(portal.url)
    assert subscription_id in page.text and "Cancel at period end" in page.text
    assert other_price in page.text and 'href="http://127.0.0.1:9/billing"' in page.text
    cancelled = httpx.post(
        f"{servers.api_base}/portal/{portal.id}/subscriptions/{subscription_id}",
        data={"action": "cancel_at_period_end"},
    )
    assert cancelled.status_code == 303

    [updated] = about(receiver, servers, "customer.subscription.updated", subscription_id)
    assert updated.data.object["cancel_at_period_end"] is True
    assert updated.data.previous_attributes["cancel_at_period_end"] is False
    assert updated.data.object["items"]["data"][0]["price"]["id"] == price_id
    assert client.v1.subscriptions.retrieve(subscription_id).cancel_at_period_end is True

    item_id = client.v1.subscriptions.retrieve(subscription_id)["items"].data[0].id
    for _ in range(2):  # a retried request changes the seats once
        seats = client.v1.subscriptions.update(
            subscription_id,
            {"items": [{"id": item_id, "quantity": 5}], "proration_behavior": "create_prorations"},
            {"idempotency_key": f"seats:{subscription_id}:5"},
        )
    assert seats["items"].data[0].quantity == 5 and seats["items"].data[0].price.id == price_id
    updates = about(receiver, servers, "customer.subscription.updated", subscription_id)
    assert len(updates) == 2
    assert updates[1].data.previous_attributes["quantity"] == 2

    httpx.post(
        f"{servers.api_base}/portal/{portal.id}/subscriptions/{subscription_id}",
        data={"action": "change_plan", "price": other_price},
    )
    changed = client.v1.subscriptions.retrieve(subscription_id)["items"].data[0]
    assert (changed.price.id, changed.quantity) == (other_price, 5)

    httpx.post(
        f"{servers.api_base}/portal/{portal.id}/subscriptions/{subscription_id}",
        data={"action": "cancel_now"},
    )
    deleted = receiver.wait_for(
        servers.webhook_secret, "customer.subscription.deleted", subscription_id
    )
    assert deleted.data.object["status"] == "canceled"
    assert deleted.data.object["items"]["data"][0]["price"]["id"] == other_price
    assert all(d["status"] == 200 for d in servers.deliveries())


def test_a_payment_checkout_then_a_refund_sends_charge_refunded(
    servers: StripeServers, receiver: Receiver
) -> None:
    client = servers.client()
    product = client.v1.products.create({"name": "Pattern bundle"})
    price = client.v1.prices.create(
        {"product": product.id, "unit_amount": 1200, "currency": "eur", "lookup_key": "bundle_x"}
    )
    assert price.type == "one_time"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.plans.retrieve(price.id)  # a one-off price is no plan
    customer = client.v1.customers.create({"email": "linus@example.org"})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "payment_intent_data": {"metadata": {"bundle_id": "b1"}},
            "success_url": "http://127.0.0.1:9/bought?c={CHECKOUT_SESSION_ID}",
        }
    )
    assert session.amount_total == 1200
    assert "Pay 12.00 EUR" in httpx.get(str(session.url)).text
    assert pay(str(session.url)).status_code == 303

    [completed] = about(receiver, servers, "checkout.session.completed", session.id)
    assert completed.data.object["payment_status"] == "paid"
    intent_id = str(client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    intent = client.v1.payment_intents.retrieve(intent_id)
    assert (intent.status, intent.amount) == ("succeeded", 1200)
    assert intent.metadata.to_dict() == {"bundle_id": "b1"}
    assert isinstance(intent.latest_charge, str)

    refund = client.v1.refunds.create({"payment_intent": intent_id})
    assert refund.amount == 1200
    [refunded] = about(receiver, servers, "charge.refunded", intent.latest_charge)
    charge = refunded.data.object
    assert (charge["refunded"], charge["amount_refunded"], charge["payment_intent"]) == (
        True,
        1200,
        intent_id,
    )
    assert refunded.data.previous_attributes["refunded"] is False
    assert client.v1.charges.retrieve(intent.latest_charge).refunded is True


def test_a_declined_card_keeps_the_checkout_open(servers: StripeServers) -> None:
    client = servers.client()
    _, price_id = monthly_plan(client)
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer_email": "eve@example.org",
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": "http://127.0.0.1:9/done",
        }
    )
    declined = httpx.post(str(session.url), data={"card_number": "4000000000000002"})
    assert declined.status_code == 402 and "declined" in declined.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    assert pay(str(session.url)).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and isinstance(done.customer, str)
    assert client.v1.customers.retrieve(done.customer).email == "eve@example.org"


def test_meter_events_are_kept_once_per_identifier(servers: StripeServers) -> None:
    client = servers.client()
    before = len(servers.meter_events())
    identifier = f"usage:{uuid.uuid4().hex}"
    answers = [
        client.v1.billing.meter_events.create(
            {
                "event_name": "session_minutes",
                "identifier": identifier,
                "payload": {"stripe_customer_id": "cus_x", "value": str(value)},
            }
        )
        for value in (30, 30)
    ]
    assert answers[0].object == "billing.meter_event" and answers[0].identifier == identifier
    assert answers[0].timestamp <= int(time.time())
    kept = servers.meter_events()[before:]
    assert [(e["identifier"], e["payload"]["value"]) for e in kept] == [(identifier, "30")]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.billing.meter_events.create(
            {"event_name": "session_minutes", "payload": {"value": "1"}}
        )
    assert missing.value.param == "payload[stripe_customer_id]"


def test_an_idempotency_key_creates_one_customer(servers: StripeServers) -> None:
    client = servers.client()
    email = f"{uuid.uuid4().hex[:8]}@example.org"
    key = f"customer:{email}"
    first = client.v1.customers.create({"email": email}, {"idempotency_key": key})
    again = client.v1.customers.create({"email": email}, {"idempotency_key": key})
    assert first.id == again.id
    assert [c.id for c in client.v1.customers.list({"email": email}).data] == [first.id]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "other@example.org"}, {"idempotency_key": key})


def test_errors_come_in_stripes_shape(servers: StripeServers) -> None:
    client = servers.client()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.retrieve("price_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(
            {
                "mode": "subscription",
                "line_items": [{"price": "price_missing", "quantity": 1}],
                "success_url": "http://127.0.0.1:9/done",
            }
        )
    assert unknown.value.http_status == 400 and unknown.value.param == "line_items[0][price]"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_", base_addresses={"api": servers.api_base}).v1.prices.list()


def test_reset_forgets_both_servers(servers: StripeServers) -> None:
    client = servers.client()
    product, price_id = monthly_plan(client)
    servers.reset()
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.retrieve(price_id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.retrieve(product)
    assert servers.meter_events() == [] and servers.deliveries() == []
