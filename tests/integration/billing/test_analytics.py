"""The admins' billing analytics (``GET /dashboards/billing``) on real Postgres: each number
from rows written in platform scope, zeros on an empty platform, platform admins only
(through the hub or a dashboard's credential), and the dashboard that shows them.

The numbers span the whole platform, so the module has a database of its own, emptied
before each test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import httpx
import psycopg
import pytest
from psycopg import sql

from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.core.names import DASHBOARD_CREDENTIAL_HEADER as HEADER
from api.core.tenancy import PLATFORM
from api.dashboard_credentials import mint
from api.models import Bundle, BundlePurchase, Subscription, Tenant, UsageMeter, UserProfile
from api.models.billing import METERS
from hub.dashboards import listed_for, may_open
from tests.support.accounts import create_account
from tests.support.api import in_process_api
from tests.support.database import create_database, drop_database
from tests.support.identity import as_user
from voila_apps.billing import BillingDashboard
from voila_apps.client import ApiClient, DashboardError

NAME = "billing_analytics"
DAY = timedelta(days=1)
BILLING = "/dashboards/billing"
ASKER, ASKERS_PLAN = "root", "enterprise"
# What the numbers read, children before parents.
EMPTIED = ("bundle_purchases", "usage_meters", "subscriptions", "user_profiles", "tenants")


@pytest.fixture(scope="module")
def analytics_settings(pg_settings: Settings) -> Iterator[Settings]:
    url = create_database(pg_settings, NAME)
    migrate.upgrade(url)
    yield Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=url)
    drop_database(pg_settings, NAME)


@pytest.fixture(scope="module")
async def api(analytics_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(analytics_settings) as client:
        yield client


@pytest.fixture
async def platform(pg_settings: Settings, analytics_settings: Settings) -> AsyncIterator[Database]:
    """The module's database, emptied of billing, people and organisations, in platform
    scope (as the ``database`` fixture is the shared one's)."""
    with psycopg.connect(
        dbname=NAME, user="postgres", host=str(pg_settings.postgres_socket_dir), autocommit=True
    ) as conn:
        for table in EMPTIED:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
    engine = Database(analytics_settings.app_sqlalchemy_url)
    database = engine.in_scope(PLATFORM)
    # Each call a person makes counts in their api_calls: the asking admin's own are kept
    # on a plan the tests leave out of their sums.
    await add(database, UserProfile(hub_name=ASKER, plan_code=ASKERS_PLAN))
    yield database
    await engine.dispose()


async def add(database: Database, *rows: Any) -> None:
    async with database.sessionmaker() as session:
        session.add_all(rows)
        await session.commit()


def subscription(
    plan_code: str,
    status: str,
    *,
    created: datetime,
    hub_name: str | None = None,
    tenant_id: uuid.UUID | None = None,
    interval: str = "month",
    quantity: int = 1,
    trial_end: datetime | None = None,
    changed: datetime | None = None,
) -> Subscription:
    """A subscription as the webhooks leave it; ``changed`` is when its row last changed."""
    key = uuid.uuid4().hex[:14]
    return Subscription(
        stripe_subscription_id=f"sub_test_{key}",
        stripe_customer_id=f"cus_test_{key}",
        hub_name=None if tenant_id else (hub_name or f"p-{key}"),
        tenant_id=tenant_id,
        plan_code=plan_code,
        price_id=f"price_test_{plan_code}_{interval}",
        interval=interval,
        status=status,
        quantity=quantity,
        trial_end=trial_end,
        stripe_created_at=created,
        updated_at=changed or created,
    )


def meter(name: str, day: date, meter_name: str, quantity: int) -> UsageMeter:
    return UsageMeter(hub_name=name, day=day, meter=meter_name, quantity=quantity)


def purchase(
    bundle: uuid.UUID, amount: int, currency: str, bought: datetime, *, refunded: bool = False
) -> BundlePurchase:
    key = uuid.uuid4().hex[:12]
    return BundlePurchase(
        bundle_id=bundle,
        hub_name=f"buyer-{key}",
        checkout_session_id=f"cs_test_{key}",
        amount_cents=amount,
        currency=currency,
        status="refunded" if refunded else "paid",
        purchased_at=bought,
        refunded_at=bought + DAY if refunded else None,
    )


def organisation(name: str, seats: int | None = None) -> Tenant:
    return Tenant(id=uuid.uuid4(), slug=f"o-{uuid.uuid4().hex[:8]}", name=name, seats=seats)


def members(tenant: Tenant, count: int, plan_code: str = "free") -> list[UserProfile]:
    return [
        UserProfile(hub_name=f"m-{uuid.uuid4().hex[:10]}", tenant_id=tenant.id, plan_code=plan_code)
        for _ in range(count)
    ]


async def analytics(api: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    response = await api.get(BILLING, headers=headers or as_user(ASKER))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["plan_code"]: row for row in rows}


async def seed_platform(database: Database) -> None:
    """Ten subscriptions, three organisations, a week of meters and four bundle purchases;
    the numbers they make are worked out in the test below."""
    now = datetime.now(UTC)
    today = now.date()
    acme, globex, aardvark = (
        organisation("Acme", seats=5),
        organisation("Globex"),
        (organisation("Aardvark")),
    )
    await add(database, acme, globex, aardvark)
    await add(
        database,
        *members(acme, 3, "team"),
        *members(globex, 1),
        *members(aardvark, 3),
        UserProfile(hub_name="u-pro", plan_code="pro"),
        UserProfile(hub_name="u-free", plan_code="free"),
    )
    await add(
        database,
        # Paying since before the window: monthly, yearly, an organisation's five seats.
        subscription("pro", "active", created=now - 60 * DAY),
        subscription("pro", "active", created=now - 90 * DAY, interval="year"),
        subscription("team", "active", created=now - 100 * DAY, tenant_id=acme.id, quantity=5),
        # Trialing now.
        subscription("student", "trialing", created=now - 4 * DAY, trial_end=now + 10 * DAY),
        # Trials that ended in the window: one converted, one canceled.
        subscription("pro", "active", created=now - 19 * DAY, trial_end=now - 5 * DAY),
        subscription(
            "pro",
            "canceled",
            created=now - 17 * DAY,
            trial_end=now - 3 * DAY,
            changed=now - 3 * DAY,
        ),
        # Paying at the start, canceled in the window: the churn.
        subscription("student", "canceled", created=now - 200 * DAY, changed=now - 10 * DAY),
        # Canceled before the window: counts nowhere but in its plan's statuses.
        subscription("pro", "canceled", created=now - 300 * DAY, changed=now - 60 * DAY),
        # Past due: paying at the start, not revenue now.
        subscription("student", "past_due", created=now - 50 * DAY),
        # Its trial ended before the window: paying at its start, not a conversion in it.
        subscription("pro", "active", created=now - 54 * DAY, trial_end=now - 40 * DAY),
        # An organisation's canceled ten seats hold nothing.
        subscription(
            "team",
            "canceled",
            created=now - 120 * DAY,
            tenant_id=aardvark.id,
            quantity=10,
            changed=now - 80 * DAY,
        ),
    )
    await add(
        database,
        meter("u-pro", today, "api_calls", 100),
        meter("u-pro", today - 6 * DAY, "api_calls", 50),
        meter("u-pro", today - 7 * DAY, "api_calls", 1_000),  # before the seven days
        meter("u-pro", today, "agent_steps", 7),
        meter("u-free", today, "api_calls", 10),
        meter("no-profile", today - 2 * DAY, "api_calls", 5),  # counts on the free plan
    )
    bundle = Bundle(
        id=uuid.uuid4(), title="Kit", description="A kit.", author="root", category="data"
    )
    await add(database, bundle)
    await add(
        database,
        purchase(bundle.id, 1_900, "USD", now - 2 * DAY),
        purchase(bundle.id, 500, "USD", now - 40 * DAY),
        purchase(bundle.id, 1_900, "USD", now - 5 * DAY, refunded=True),
        purchase(bundle.id, 1_000, "EUR", now - DAY),
    )


async def test_each_number_from_the_rows(api: httpx.AsyncClient, platform: Database) -> None:
    await seed_platform(platform)
    body = await analytics(api)
    assert body["currency"] == "usd" and body["window_days"] == 30 and body["usage_days"] == 7

    # MRR: 2900 + 29000/12 + 3900*5 + 2900 + 2900 = 30616.67 cents, past due and trials out.
    assert body["mrr_cents"] == 30_617 and body["arr_cents"] == 30_617 * 12
    assert (body["subscriptions"], body["active"], body["trialing"], body["past_due"]) == (
        11,
        5,
        1,
        1,
    )
    plans = by_code(body["plans"])
    assert plans["pro"]["statuses"] == {"active": 4, "canceled": 2} and plans["pro"]["total"] == 6
    assert plans["pro"]["mrr_cents"] == 11_117 and plans["pro"]["seats"] == 4
    assert plans["student"]["statuses"] == {"canceled": 1, "past_due": 1, "trialing": 1}
    assert plans["student"]["mrr_cents"] == 0 and plans["student"]["seats"] == 1
    assert plans["team"]["statuses"] == {"active": 1, "canceled": 1}
    assert plans["team"]["seats"] == 5 and plans["team"]["mrr_cents"] == 19_500
    assert plans["free"]["total"] == 0 and plans["free"]["statuses"] == {}

    assert body["trials"] == {"now": 1, "ended": 2, "converted": 1, "conversion_rate": 0.5}
    assert body["churn"] == {"active_at_start": 6, "churned": 1, "canceled": 2, "rate": 0.1667}

    usage = by_code(body["usage"])
    assert usage["pro"]["people"] == 1
    assert usage["pro"]["meters"] == {
        **dict.fromkeys(METERS, 0),
        "api_calls": 150,
        "agent_steps": 7,
    }
    assert usage["free"]["people"] == 2 and usage["free"]["meters"]["api_calls"] == 15
    assert usage["team"]["people"] == 0 and set(usage["team"]["meters"].values()) == {0}

    organisations = [
        (o["name"], o["members"], o["seats"], o["subscribed_seats"]) for o in body["organisations"]
    ]
    assert organisations == [("Acme", 3, 5, 5), ("Aardvark", 3, None, 0), ("Globex", 1, None, 0)]

    assert body["bundles"] == {
        "purchases": 3,
        "refunds": 1,
        "gross_cents": 4_300,
        "refunded_cents": 1_900,
        "net_cents": 2_400,
        "net_cents_in_window": 1_900,
        "net_cents_other_currencies": {"eur": 1_000},
    }
    assert {"mrr", "trial_conversion", "churn", "usage", "bundles"} <= set(body["definitions"])


async def test_an_empty_platform_is_all_zeros(api: httpx.AsyncClient, platform: Database) -> None:
    body = await analytics(api)
    assert (body["subscriptions"], body["mrr_cents"], body["arr_cents"]) == (0, 0, 0)
    assert body["trials"] == {"now": 0, "ended": 0, "converted": 0, "conversion_rate": 0.0}
    assert body["churn"] == {"active_at_start": 0, "churned": 0, "canceled": 0, "rate": 0.0}
    assert body["organisations"] == []
    assert all(p["total"] == 0 and p["mrr_cents"] == 0 for p in body["plans"])
    assert {p["plan_code"] for p in body["plans"]} >= {"free", "pro", "team"}
    others = [u for u in body["usage"] if u["plan_code"] != ASKERS_PLAN]
    assert others and all(u["people"] == 0 and set(u["meters"].values()) == {0} for u in others)
    assert body["bundles"]["net_cents"] == 0 and body["bundles"]["purchases"] == 0


async def test_only_platform_admins_get_the_numbers(
    api: httpx.AsyncClient, platform: Database, analytics_settings: Settings
) -> None:
    for person in ("alice", "dave"):
        refused = await api.get(BILLING, headers=as_user(person))
        assert refused.status_code == 403
        assert "platform admins" in refused.json()["error"]["message"]
    # A dashboard's credential never carries admin rights: the account's role decides.
    key = analytics_settings.dashboards_credential_key()
    admin = await create_account(platform, role="platform_admin")
    developer = await create_account(platform, role="developer")
    assert (await analytics(api, **{HEADER: mint(admin.username, key)}))["mrr_cents"] == 0
    refused = await api.get(BILLING, headers={HEADER: mint(developer.username, key)})
    assert refused.status_code == 403
    unknown = await api.get(BILLING, headers={HEADER: mint("nobody-at-all", key)})
    assert unknown.status_code == 403


def test_non_admins_can_neither_open_nor_see_the_dashboard() -> None:
    ways = (
        "billing.ipynb",
        "./billing.ipynb",
        "x/../billing.ipynb",
        "//billing.ipynb",
        "billing.ipynb/",
    )
    for path in ways:
        assert not may_open(path, admin=False), path
        assert may_open(path, admin=True), path
    assert may_open("marketplace.ipynb", admin=False)
    assert "billing.ipynb" not in [name for name, _t, _d in listed_for(admin=False)]
    assert "billing.ipynb" in [name for name, _t, _d in listed_for(admin=True)]


class Answers:
    """The api as the dashboard's kernel reaches it, answering with a recorded body."""

    def __init__(self, body: dict[str, Any] | DashboardError) -> None:
        self.body = body
        self.asked: list[str] = []

    def get(self, path: str, **_params: Any) -> dict[str, Any]:
        self.asked.append(path)
        if isinstance(self.body, DashboardError):
            raise self.body
        return self.body


async def test_the_dashboard_shows_the_numbers(api: httpx.AsyncClient, platform: Database) -> None:
    await seed_platform(platform)
    body = await analytics(api)
    dashboard = BillingDashboard()
    answers = Answers(body)
    dashboard.load(cast(ApiClient, answers))
    assert answers.asked == ["dashboards/billing"]
    cards = " ".join(card.value for card in dashboard.cards.children)
    assert "306.17 USD" in cards and "ARR 3,674.04 USD" in cards
    assert "50.0%" in cards and "1 of 2 trials" in cards and "16.7%" in cards
    assert "24.00 USD" in cards
    assert "<td>Pro</td>" in dashboard.plans.value and "111.17 USD" in dashboard.plans.value
    assert "dz-billing-usage" in dashboard.usage.value and "150" in dashboard.usage.value
    assert "Acme" in dashboard.organisations.value
    assert "Trialing and past-due ones are not counted" in dashboard.definitions.value
    assert "dz-error" not in dashboard.status.value


def test_the_dashboard_shows_a_refusal_as_a_message() -> None:
    dashboard = BillingDashboard()
    refusal = Answers(DashboardError("Only platform admins may see the billing analytics."))
    dashboard.load(cast(ApiClient, refusal))
    assert "dz-error" in dashboard.status.value and "platform admins" in dashboard.status.value
    assert dashboard.cards.children == () and dashboard.plans.value == ""
