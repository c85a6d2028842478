"""Buying, changing and cancelling through Stripe's own client and protocol: localstripe
(customers, subscriptions, invoices, its signed webhooks) with the stand-in for prices,
Checkout, the portal and meter events, and the api served on loopback."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.billing.provider import BillingProvider
from api.billing.trials import send_overage
from api.core.db import Database
from api.models import (
    Account,
    Bundle,
    BundleInstall,
    BundlePurchase,
    MeterReport,
    Plan,
    StripeEvent,
    Subscription,
    Tenant,
    UserProfile,
)
from tests.support.accounts import PASSWORD, create_person
from tests.support.billing_site import (
    BILLING_PAGE,
    PREVIOUS_WEBHOOK_SECRET,
    BillingSite,
    act_in_portal,
    event_about,
    path_of,
    pay_at_checkout,
    send_form,
    sign_in,
)
from tests.support.identity import as_user
from tests.support.waiting import eventually

ORGANISATION_BILLING = f"{BILLING_PAGE.rsplit('/', 1)[0]}/organisation/billing"


async def synced(site: BillingSite) -> list[dict[str, Any]]:
    async with site.api() as api:
        answer = await api.post("/admin/billing/sync", headers=as_user("root"))
    assert answer.status_code == 200, answer.text
    plans: list[dict[str, Any]] = answer.json()
    return plans


@pytest.fixture(scope="module", autouse=True)
async def catalogue(site: BillingSite) -> list[dict[str, Any]]:
    return await synced(site)


async def plan_of(database: Database, name: str) -> str | None:
    async with database.sessionmaker() as session:
        return await session.scalar(
            select(UserProfile.plan_code).where(UserProfile.hub_name == name)
        )


async def subscription_of(database: Database, name: str) -> Subscription | None:
    async with database.sessionmaker() as session:
        return await session.scalar(select(Subscription).where(Subscription.hub_name == name))


@asynccontextmanager
async def signed_in(
    site: BillingSite, database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Account]]:
    """A new person, signed in on the billing page in a browser of their own."""
    person = await create_person(database)
    assert person.email is not None
    async with site.browser() as browser:
        await sign_in(browser, person.email, PASSWORD, BILLING_PAGE)
        yield browser, person


async def upgrade(site: BillingSite, browser: httpx.AsyncClient, plan: str) -> str:
    """Choose ``plan`` on the billing page, pay at Checkout, come back; the page's notice."""
    chosen = await send_form(
        browser, BILLING_PAGE, f"{BILLING_PAGE}/checkout", {"plan": plan, "interval": "month"}
    )
    assert chosen.status_code == 303, chosen.text
    assert chosen.headers["location"].startswith(site.stripe.api_base)
    back = await pay_at_checkout(chosen.headers["location"])
    returned = await browser.get(path_of(back))
    assert returned.status_code == 303, returned.text
    page = await browser.get(returned.headers["location"])
    assert page.status_code == 200
    text: str = page.text
    return text


async def test_the_catalogue_sync_makes_each_sold_plan_once(
    site: BillingSite, database: Database, catalogue: list[dict[str, Any]]
) -> None:
    assert {plan["code"] for plan in catalogue} == {"student", "pro", "team"}
    again = await synced(site)
    assert all(plan["created"] == [] for plan in again), again
    client = site.stripe.client()
    async with database.sessionmaker() as session:
        pro = await session.get(Plan, "pro")
    assert pro is not None and pro.stripe_price_month_id and pro.stripe_price_year_id
    monthly = client.v1.prices.retrieve(pro.stripe_price_month_id)
    yearly = client.v1.prices.retrieve(pro.stripe_price_year_id)
    assert monthly.recurring is not None and yearly.recurring is not None
    assert (monthly.unit_amount, monthly.recurring.interval) == (2900, "month")
    assert (yearly.unit_amount, yearly.recurring.interval) == (29000, "year")
    assert client.v1.products.retrieve("datazentr_pro").name == "Pro plan"


async def test_a_person_upgrades_through_checkout_and_the_next_spawn_has_the_plan(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, person):
        before = await site.spawn_policy(person.username)
        assert before["limits"]["plan_code"] == "free"
        page = await upgrade(site, browser, "pro")
    assert "your new plan is active" in page and "Pro" in page
    assert await plan_of(database, person.username) == "pro"
    row = await subscription_of(database, person.username)
    assert row is not None and row.status == "trialing" and row.trial_end is not None
    after = await site.spawn_policy(person.username)
    assert after["limits"]["plan_code"] == "pro"
    assert after["limits"]["daily_minutes"] == 600 and after["limits"]["cpu_limit"] == 2.0
    # Stripe's own event arrived too and changed nothing more.
    await eventually(
        lambda: any(
            d["event"]["type"] == "checkout.session.completed" and d["status"] == 200
            for d in site.stripe.deliveries()
        ),
        what="the checkout's webhook delivered",
    )


async def test_cancelling_in_stripe_falls_back_to_free(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, person):
        await upgrade(site, browser, "pro")
    row = await subscription_of(database, person.username)
    assert row is not None
    site.stripe.client().v1.subscriptions.cancel(row.stripe_subscription_id)

    async def fell_back() -> bool:
        return await plan_of(database, person.username) == "free"

    await eventually(fell_back, what="the plan after Stripe's subscription.deleted")
    row = await subscription_of(database, person.username)
    assert row is not None and row.status == "canceled"


async def test_webhooks_repeated_reordered_stale_forged_or_unknown(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, person):
        await upgrade(site, browser, "pro")
    row = await subscription_of(database, person.username)
    assert row is not None
    subscription = row.stripe_subscription_id
    # Stripe's state moves on: the subscription will end with its period.
    client = site.stripe.client()
    client.v1.subscriptions.update(subscription, {"cancel_at_period_end": True})
    stale_payload = {"id": subscription, "object": "subscription", "status": "incomplete"}

    async def recorded(*ids: str) -> int:
        """How many of these events were applied (other tests' events arrive meanwhile)."""
        async with database.sessionmaker() as session:
            found = await session.scalar(
                select(func.count()).select_from(StripeEvent).where(StripeEvent.id.in_(ids))
            )
            return int(found or 0)

    # "updated" before "created", both with stale payloads: the state is Stripe's current.
    for kind in ("customer.subscription.updated", "customer.subscription.created"):
        answer = await site.deliver(event_about(kind, stale_payload, f"evt_{uuid.uuid4().hex}"))
        assert answer.status_code == 200 and answer.json()["handled"], answer.text
    row = await subscription_of(database, person.username)
    assert row is not None and row.cancel_at_period_end and row.status == "trialing"
    assert await plan_of(database, person.username) == "pro"

    repeated = event_about(
        "customer.subscription.deleted", stale_payload, "evt_repeat_" + uuid.uuid4().hex
    )
    first = await site.deliver(repeated)
    before = await subscription_of(database, person.username)
    second = await site.deliver(repeated)
    assert first.status_code == second.status_code == 200
    assert second.json() == {"received": True, "duplicate": True}
    assert await recorded(repeated["id"]) == 1
    after = await subscription_of(database, person.username)
    assert before is not None and after is not None and after.updated_at == before.updated_at

    late = event_about("customer.subscription.deleted", stale_payload, f"evt_{uuid.uuid4().hex}")
    stale = await site.deliver(late, at=int(time.time()) - 3600)
    fake = event_about("customer.subscription.deleted", stale_payload, f"evt_{uuid.uuid4().hex}")
    forged = await site.deliver(fake, secret="whsec_not_the_endpoints_" + "x" * 16)
    assert stale.status_code == forged.status_code == 400
    assert "signed" in forged.json()["error"]["message"]
    assert await recorded(late["id"], fake["id"]) == 0

    unknown = await site.deliver(
        event_about(
            "radar.early_fraud_warning.created", {"id": "issfr_1"}, f"evt_{uuid.uuid4().hex}"
        )
    )
    assert unknown.status_code == 200 and unknown.json()["handled"] is False
    rolled = await site.deliver(
        event_about("customer.subscription.updated", stale_payload, f"evt_{uuid.uuid4().hex}"),
        secret=PREVIOUS_WEBHOOK_SECRET,
    )
    assert rolled.status_code == 200  # the old secret, during a roll
    assert await plan_of(database, person.username) == "pro"


async def test_the_student_plan_needs_verified_student_status(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, _):
        refused = await send_form(
            browser, BILLING_PAGE, f"{BILLING_PAGE}/checkout", {"plan": "student"}
        )
    assert refused.status_code == 422
    assert "confirm a student address" in refused.text


async def test_the_portal_opens_for_a_subscriber_and_cancels_at_period_end(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, person):
        await upgrade(site, browser, "pro")
        opened = await send_form(browser, BILLING_PAGE, f"{BILLING_PAGE}/portal", {})
    assert opened.status_code == 303
    portal = opened.headers["location"]
    assert portal.startswith(site.stripe.api_base)
    row = await subscription_of(database, person.username)
    assert row is not None
    pressed = await act_in_portal(portal, row.stripe_subscription_id, "cancel_at_period_end")
    assert pressed.status_code in (200, 303), pressed.text

    async def ends_with_period() -> bool:
        current = await subscription_of(database, person.username)
        return current is not None and current.cancel_at_period_end

    await eventually(ends_with_period, what="the portal's cancellation applied")
    assert await plan_of(database, person.username) == "pro"  # paid for until the period ends


async def organisation_with_admin(database: Database, members: int) -> tuple[Account, uuid.UUID]:
    admin = await create_person(database)
    slug = f"org-{uuid.uuid4().hex[:8]}"
    async with database.sessionmaker() as session:
        tenant = Tenant(slug=slug, name=f"Org {slug[-4:]}")
        session.add(tenant)
        await session.flush()
        session.add(UserProfile(hub_name=admin.username, tenant_id=tenant.id, tenant_role="admin"))
        for _ in range(members - 1):
            session.add(
                UserProfile(
                    hub_name=f"m-{uuid.uuid4().hex[:8]}", tenant_id=tenant.id, tenant_role="member"
                )
            )
        await session.commit()
        return admin, tenant.id


async def test_an_organisation_admin_subscribes_per_seat_and_adds_seats(
    site: BillingSite, database: Database
) -> None:
    admin, tenant_id = await organisation_with_admin(database, members=3)
    assert admin.email is not None
    async with site.browser() as browser:
        await sign_in(browser, admin.email, PASSWORD, ORGANISATION_BILLING)
        too_few = await send_form(
            browser,
            ORGANISATION_BILLING,
            f"{ORGANISATION_BILLING}/checkout",
            {"plan": "team", "seats": "2", "interval": "month"},
        )
        assert too_few.status_code == 422 and "at least 3 seats" in too_few.text
        chosen = await send_form(
            browser,
            ORGANISATION_BILLING,
            f"{ORGANISATION_BILLING}/checkout",
            {"plan": "team", "seats": "3", "interval": "month"},
        )
        assert chosen.status_code == 303, chosen.text
        back = await pay_at_checkout(chosen.headers["location"])
        returned = await browser.get(path_of(back))
        assert returned.headers["location"].endswith("done=plan")
        async with database.sessionmaker() as session:
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            assert (tenant.plan_code, tenant.seats) == ("team", 3)
            plans = set(
                await session.scalars(
                    select(UserProfile.plan_code).where(UserProfile.tenant_id == tenant_id)
                )
            )
        assert plans == {"team"}

        more = await send_form(
            browser, ORGANISATION_BILLING, f"{ORGANISATION_BILLING}/seats", {"seats": "5"}
        )
        assert more.status_code == 303 and more.headers["location"].endswith("done=seats")
        async with database.sessionmaker() as session:
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None and tenant.seats == 5
        fewer = await send_form(
            browser, ORGANISATION_BILLING, f"{ORGANISATION_BILLING}/seats", {"seats": "1"}
        )
        assert fewer.status_code == 422 and "keep at least 3 seats" in fewer.text


async def paid_bundle(database: Database) -> uuid.UUID:
    async with database.sessionmaker() as session:
        bundle = Bundle(
            title=f"Paid kit {uuid.uuid4().hex[:6]}",
            description="Patterns worth paying for.",
            author="bundle-author",
            category="tooling",
            price_cents=1500,
            currency="USD",
        )
        session.add(bundle)
        await session.commit()
        return bundle.id


async def test_a_paid_bundle_is_bought_installed_and_refunded(
    site: BillingSite, database: Database
) -> None:
    bundle_id = await paid_bundle(database)
    page = f"{BILLING_PAGE}/bundles/{bundle_id}"
    async with signed_in(site, database) as (browser, person), site.api() as api:
        listed = await api.get(
            f"/marketplace/bundles/{bundle_id}", headers=as_user(person.username)
        )
        assert listed.json()["purchase_available"] and not listed.json()["owned"]
        refused = await api.post(
            f"/marketplace/bundles/{bundle_id}/install", headers=as_user(person.username)
        )
        assert refused.status_code == 402
        chosen = await send_form(browser, page, page, {})
        assert chosen.status_code == 303, chosen.text
        back = await pay_at_checkout(chosen.headers["location"])
        returned = await browser.get(path_of(back))
        assert returned.headers["location"].endswith("done=bundle")
        owned = (
            await api.get(f"/marketplace/bundles/{bundle_id}", headers=as_user(person.username))
        ).json()
        assert owned["owned"] and owned["installed"] and not owned["purchase_available"]
        mine = (await api.get("/me/billing", headers=as_user(person.username))).json()
        assert [p["status"] for p in mine["purchases"]] == ["paid"]
        author = (
            await api.get(f"/marketplace/bundles/{bundle_id}", headers=as_user("bundle-author"))
        ).json()
        assert author["sales"] == 1

        async with database.sessionmaker() as session:
            purchase = await session.scalar(
                select(BundlePurchase).where(BundlePurchase.bundle_id == bundle_id)
            )
        assert purchase is not None and purchase.payment_intent_id
        site.stripe.client().v1.refunds.create({"payment_intent": purchase.payment_intent_id})

        async def refunded() -> bool:
            async with database.sessionmaker() as session:
                row = await session.get(BundlePurchase, purchase.id)
                return row is not None and row.status == "refunded"

        await eventually(refunded, what="the refund's webhook applied")
        async with database.sessionmaker() as session:
            installs = await session.scalar(
                select(func.count())
                .select_from(BundleInstall)
                .where(BundleInstall.bundle_id == bundle_id)
            )
            sales = await session.scalar(select(Bundle.sales).where(Bundle.id == bundle_id))
        assert installs == 0 and sales == 0
        again = await api.post(
            f"/marketplace/bundles/{bundle_id}/install", headers=as_user(person.username)
        )
        assert again.status_code == 402


async def test_overage_is_reported_to_stripe_once(site: BillingSite, database: Database) -> None:
    customer = site.stripe.client().v1.customers.create({"email": "overage@example.org"})
    async with database.sessionmaker() as session:
        report = MeterReport(
            stripe_customer_id=customer.id, event_name="datazentr_assistant_tokens", value=1234
        )
        session.add(report)
        await session.commit()
    provider = BillingProvider(site.settings)
    assert await send_overage(database, provider) >= 1
    assert await send_overage(database, provider) == 0  # sent already
    identifier = f"datazentr-meter-report-{report.id}"
    sent = [e for e in site.stripe.meter_events() if e["identifier"] == identifier]
    assert len(sent) == 1
    assert sent[0]["event_name"] == "datazentr_assistant_tokens"
    assert sent[0]["payload"] == {"stripe_customer_id": customer.id, "value": "1234"}
    # A crash between Stripe's answer and the commit sends it again: Stripe counts it once.
    async with database.sessionmaker() as session:
        row = await session.get(MeterReport, report.id)
        assert row is not None and row.sent_at is not None
        row.sent_at = None
        await session.commit()
    assert await send_overage(database, provider) >= 1
    assert len([e for e in site.stripe.meter_events() if e["identifier"] == identifier]) == 1


async def test_coming_back_before_paying_claims_nothing(
    site: BillingSite, database: Database
) -> None:
    async with signed_in(site, database) as (browser, person):
        chosen = await send_form(
            browser, BILLING_PAGE, f"{BILLING_PAGE}/checkout", {"plan": "pro", "interval": "month"}
        )
        checkout_id = chosen.headers["location"].rsplit("/", 1)[1]
        back = await browser.get(f"{BILLING_PAGE}?checkout={checkout_id}")
        assert back.headers["location"].endswith("done=open")
        page = await browser.get(back.headers["location"])
    assert "has not confirmed the payment yet" in page.text
    assert "your new plan is active" not in page.text
    assert await plan_of(database, person.username) in (None, "free")
