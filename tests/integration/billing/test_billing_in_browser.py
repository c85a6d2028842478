"""Billing in chromium, as a person and an organisation's admin use it: the billing page,
Stripe Checkout (the stand-in's page, which sends the webhook Stripe would), the way back,
and the limits the next spawn gets. Screenshots go to test-artifacts/billing-*.png."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from api.core.db import Database
from api.models import Bundle, ServerSession, Tenant, UserProfile
from tests.support.artifacts import artifact_path
from tests.support.billing_site import BILLING_PAGE, BillingSite
from tests.support.identity import as_user
from tests.support.screens import (
    arrive,
    check_page,
    in_database,
    open_screen,
    person_with_password,
    sign_in_with_password,
)
from tests.support.waiting import PATIENCE_SECONDS

ORGANISATION_BILLING = f"{BILLING_PAGE.rsplit('/', 1)[0]}/organisation/billing"


def api(site: BillingSite, path: str, user: str, body: dict[str, Any] | None = None) -> Any:
    with httpx.Client(base_url=f"{site.url}/services/api", timeout=PATIENCE_SECONDS) as client:
        answer = client.post(path, json=body, headers=as_user(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


def read(site: BillingSite, path: str, user: str) -> Any:
    with httpx.Client(base_url=f"{site.url}/services/api", timeout=PATIENCE_SECONDS) as client:
        answer = client.get(path, headers=as_user(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


def spawn_policy(site: BillingSite, name: str) -> dict[str, Any]:
    policy: dict[str, Any] = api(site, "/internal/spawn-policy", "quota", {"user": name})
    return policy


def spend_today(site: BillingSite, name: str, minutes: int) -> None:
    """``minutes`` of server time today, as the ledger would have them."""

    async def work(database: Database) -> None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        start = max(end - timedelta(minutes=minutes), end.replace(hour=0, minute=0))
        async with database.sessionmaker() as session:
            session.add(
                ServerSession(
                    hub_name=name,
                    started_at=start,
                    last_seen_at=end,
                    ended_at=end,
                    end_reason="stopped",
                    plan_code="free",
                )
            )
            await session.commit()

    in_database(site.settings, work)


def wait_until(condition: Callable[[], bool]) -> None:
    """Stripe's event comes when Stripe sends it: wait for its effect, not for a time."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "Stripe's event had no effect"
        time.sleep(0.1)


def pay(page: Page, site: BillingSite, screen: str, name: str) -> None:
    """On the stand-in's Checkout page: the card is filled in; press the button."""
    page.wait_for_url(f"{site.stripe.api_base}/checkout/**")
    expect(page.locator("#pay")).to_be_visible()
    page.screenshot(path=artifact_path(f"billing-{name}-checkout-{screen}.png"), full_page=True)
    page.locator("#pay").click()


def test_a_free_person_at_the_daily_limit_upgrades_and_can_start_again(
    chromium: Browser, site: BillingSite
) -> None:
    api(site, "/admin/billing/sync", "root")
    person = person_with_password(site.settings)
    assert person.email is not None
    spawn_policy(site, person.username)  # the profile, as the first spawn makes it
    spend_today(site, person.username, 120)
    refused = spawn_policy(site, person.username)
    assert refused["allowed"] is False
    assert "of your 120 minutes today on the Free plan" in refused["message"]
    # The hub shows this message where the server would start: the way on is in it.
    assert refused["message"].endswith(f"Upgrade: {site.url}{BILLING_PAGE}")

    page = open_screen(chromium, "desktop")
    sign_in_with_password(page, site.url, person.email, BILLING_PAGE)
    check_page(page, "billing-free", "desktop", heading="Plan and billing")
    expect(page.locator("#plan-free").locator("..")).to_contain_text("Your plan")
    page.locator("#upgrade-pro").click()
    pay(page, site, "desktop", "pro")
    arrive(page, f"{site.url}{BILLING_PAGE}?done=plan")
    expect(page.get_by_role("status").first).to_contain_text("your new plan is active")
    expect(page.locator(".facts")).to_contain_text("Pro")
    expect(page.locator(".facts")).to_contain_text("trialing")
    check_page(page, "billing-pro", "desktop", heading="Plan and billing")

    allowed = spawn_policy(site, person.username)
    assert allowed["allowed"] is True, allowed["message"]
    assert allowed["limits"]["plan_code"] == "pro"
    assert allowed["minutes_left"] == 600 - 120

    # The trial ends without a payment method: Stripe ends the subscription, the plan falls
    # back, and today's spent time counts against the free plan again.
    mine = read(site, "/me/billing", person.username)
    (subscription,) = mine["subscriptions"]
    site.stripe.client().v1.subscriptions.cancel(subscription["stripe_subscription_id"])
    wait_until(lambda: read(site, "/me/billing", person.username)["plan"]["code"] == "free")
    page.reload()
    expect(page.locator(".facts")).to_contain_text("Free")
    assert spawn_policy(site, person.username)["allowed"] is False
    page.context.close()


def test_the_billing_page_fits_a_phone(chromium: Browser, site: BillingSite) -> None:
    person = person_with_password(site.settings)
    assert person.email is not None
    page = open_screen(chromium, "phone")
    sign_in_with_password(page, site.url, person.email, BILLING_PAGE)
    check_page(page, "billing", "phone", heading="Plan and billing")
    page.context.close()


def test_a_paid_bundle_is_bought_in_the_browser(chromium: Browser, site: BillingSite) -> None:
    api(site, "/admin/billing/sync", "root")
    person = person_with_password(site.settings)
    assert person.email is not None

    async def add_bundle(database: Database) -> uuid.UUID:
        async with database.sessionmaker() as session:
            bundle = Bundle(
                title=f"Testing toolkit {uuid.uuid4().hex[:4]}",
                description="Fixtures, factories and property tests.",
                author="bundle-author",
                category="testing",
                price_cents=1900,
            )
            session.add(bundle)
            await session.commit()
            return bundle.id

    bundle_id = in_database(site.settings, add_bundle)
    page = open_screen(chromium, "desktop")
    bundle_page = f"{BILLING_PAGE}/bundles/{bundle_id}"
    sign_in_with_password(page, site.url, person.email, bundle_page)
    check_page(page, "billing-bundle", "desktop")
    page.locator("#buy").click()
    pay(page, site, "desktop", "bundle")
    arrive(page, f"{site.url}{BILLING_PAGE}?done=bundle")
    expect(page.get_by_role("status").first).to_contain_text("the bundle is yours")
    expect(page.locator("table.rows")).to_contain_text("Testing toolkit")
    page.screenshot(path=artifact_path("billing-bundle-bought-desktop.png"), full_page=True)
    bundle = read(site, f"/marketplace/bundles/{bundle_id}", person.username)
    assert bundle["owned"] and bundle["installed"]
    page.context.close()


def test_an_organisation_admin_subscribes_and_adds_seats(
    chromium: Browser, site: BillingSite
) -> None:
    api(site, "/admin/billing/sync", "root")
    admin = person_with_password(site.settings)
    assert admin.email is not None

    async def organisation(database: Database) -> uuid.UUID:
        async with database.sessionmaker() as session:
            tenant = Tenant(slug=f"lab-{uuid.uuid4().hex[:6]}", name="Robotics Lab")
            session.add(tenant)
            await session.flush()
            session.add(
                UserProfile(hub_name=admin.username, tenant_id=tenant.id, tenant_role="admin")
            )
            session.add(
                UserProfile(
                    hub_name=f"m-{uuid.uuid4().hex[:8]}", tenant_id=tenant.id, tenant_role="member"
                )
            )
            await session.commit()
            return tenant.id

    tenant_id = in_database(site.settings, organisation)
    page = open_screen(chromium, "desktop")
    sign_in_with_password(page, site.url, admin.email, ORGANISATION_BILLING)
    check_page(page, "billing-organisation", "desktop", heading="Billing")
    page.locator("#subscribe-team").click()
    pay(page, site, "desktop", "team")
    arrive(page, f"{site.url}{ORGANISATION_BILLING}?done=plan")
    expect(page.locator(".facts")).to_contain_text("Team")
    expect(page.locator(".facts")).to_contain_text("2 used of 2")
    page.get_by_label("Seats", exact=True).fill("6")
    page.locator("#change-seats").click()
    arrive(page, f"{site.url}{ORGANISATION_BILLING}?done=seats")
    expect(page.locator(".facts")).to_contain_text("2 used of 6")
    check_page(page, "billing-organisation-seats", "desktop", heading="Billing")

    async def seats(database: Database) -> int | None:
        async with database.sessionmaker() as session:
            tenant = await session.get(Tenant, tenant_id)
            return tenant.seats if tenant else None

    assert in_database(site.settings, seats) == 6
    page.context.close()
