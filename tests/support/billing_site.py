"""The api with billing on, served on loopback with Stripe's stand-in behind it, and what
its tests do there: sign in, send a page's form, pay on the stand-in's checkout page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import stripe
from pydantic import SecretStr

from api.auth import HubUser
from api.core.config import Settings
from api.core.names import API_PREFIX, QUOTA_SERVICE
from api.main import create_app
from tests.support.accounts import PAGES, csrf_token, mail_settings
from tests.support.asgi import serve_app
from tests.support.identity import USERS, AnyUserIdentity, as_user
from tests.support.network import free_port
from tests.support.smtp import SmtpServer
from tests.support.stripe_server import StripeServers

# The previous signing secret while a roll is under way: accepted as well.
PREVIOUS_WEBHOOK_SECRET = "whsec_previous_" + "p" * 24
BILLING_PAGE = f"{PAGES}/billing"
WEBHOOK_PATH = f"{API_PREFIX}billing/webhook"


@dataclass
class BillingSite:
    url: str
    settings: Settings
    stripe: StripeServers

    def browser(self) -> httpx.AsyncClient:
        """A signed-out browser on the site (cookies kept, redirects not followed)."""
        return httpx.AsyncClient(base_url=self.url, timeout=60)

    def api(self) -> httpx.AsyncClient:
        """The api as the hub's proxy routes it (``headers=as_user(name)``)."""
        return httpx.AsyncClient(base_url=f"{self.url}{API_PREFIX.rstrip('/')}", timeout=60)

    async def spawn_policy(self, name: str) -> dict[str, Any]:
        async with self.api() as api:
            answer = await api.post(
                "/internal/spawn-policy", json={"user": name}, headers=as_user(QUOTA_SERVICE)
            )
        assert answer.status_code == 200, answer.text
        policy: dict[str, Any] = answer.json()
        return policy

    async def deliver(
        self, event: dict[str, Any], *, secret: str | None = None, at: int | None = None
    ) -> httpx.Response:
        """Send ``event`` to the webhook endpoint, signed as Stripe signs it."""
        payload = json.dumps(event)
        timestamp = at if at is not None else int(time.time())
        signature = stripe.WebhookSignature._compute_signature(
            f"{timestamp}.{payload}", secret or self.stripe.webhook_secret
        )
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.post(
                WEBHOOK_PATH,
                content=payload,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": f"t={timestamp},v1={signature}",
                },
            )


def event_about(kind: str, obj: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": stripe.api_version,
        "created": int(time.time()),
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


@contextmanager
def billing_site_for(
    migrated: Settings, servers: StripeServers, smtp: SmtpServer, **overrides: Any
) -> Iterator[BillingSite]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = mail_settings(
        migrated,
        smtp,
        public_url=f"{url}/",
        # model_copy does not validate: secrets as the settings hold them.
        stripe_secret_key=SecretStr(servers.secret_key),
        stripe_webhook_secret=SecretStr(servers.webhook_secret),
        stripe_webhook_secret_previous=SecretStr(PREVIOUS_WEBHOOK_SECRET),
        stripe_api_base=servers.api_base,
        **overrides,
    )
    people = {
        **USERS,
        QUOTA_SERVICE: HubUser(name=QUOTA_SERVICE, admin=False, kind="service"),
    }
    app = create_app(settings, identity=AnyUserIdentity(people))
    with serve_app(app, lifespan=True, port=port) as served:
        servers.set_webhook_url(f"{served}{WEBHOOK_PATH}")
        yield BillingSite(served, settings, servers)


async def sign_in(browser: httpx.AsyncClient, email: str, password: str, next_url: str) -> None:
    shown = await browser.get(f"{PAGES}/sign-in")
    answer = await browser.post(
        f"{PAGES}/sign-in",
        data={
            "email": email,
            "password": password,
            "next": next_url,
            "action": "password",
            "csrf_token": csrf_token(shown.text),
        },
    )
    assert answer.status_code == 303, answer.text


async def send_form(
    browser: httpx.AsyncClient, page: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Open ``page``, then send its form to ``action`` with the page's token."""
    shown = await browser.get(page)
    assert shown.status_code == 200, shown.text
    return await browser.post(action, data={**data, "csrf_token": csrf_token(shown.text)})


async def pay_at_checkout(checkout_url: str) -> str:
    """Pay on the stand-in's checkout page as a buyer would; where it sends the browser."""
    async with httpx.AsyncClient(timeout=60) as buyer:
        shown = await buyer.get(checkout_url)
        assert shown.status_code == 200, shown.text
        paid = await buyer.post(checkout_url, data={"card_number": "4242 4242 4242 4242"})
    assert paid.status_code == 303, paid.text
    return paid.headers["location"]


async def act_in_portal(
    portal_url: str, subscription_id: str, action: str, **fields: str
) -> httpx.Response:
    """Press one of the stand-in portal's buttons (``cancel_at_period_end``, ``resume``,
    ``cancel_now``, ``change_plan`` with ``price``, ``quantity`` with ``quantity``)."""
    async with httpx.AsyncClient(timeout=60) as customer:
        shown = await customer.get(portal_url)
        assert shown.status_code == 200, shown.text
        assert subscription_id in shown.text
        return await customer.post(
            f"{portal_url}/subscriptions/{subscription_id}", data={"action": action, **fields}
        )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
