"""What subscriptions grant, decided in the database without Stripe: trialing and active
give the plan, past_due keeps it for the grace period, anything else falls back; an
organisation's subscription gives its plan and seats to every member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from api.billing.subscriptions import Owner, plan_sold_by, settle
from api.billing.trials import billing_round
from api.core.config import Settings
from api.core.db import Database
from api.models import Subscription, Tenant, UsageNotice, UserProfile
from tests.support.accounts import create_account, mail_settings
from tests.support.billing import organisation, person_with_plan, subscription_row
from tests.support.smtp import SmtpServer

GRACE_DAYS = 7


async def plan_of(database: Database, name: str) -> str:
    async with database.sessionmaker() as session:
        plan = await session.scalar(
            select(UserProfile.plan_code).where(UserProfile.hub_name == name)
        )
        assert plan is not None
        return plan


async def settle_now(database: Database, owner: Owner, now: datetime | None = None) -> None:
    async with database.sessionmaker() as session:
        await settle(session, owner, now or datetime.now(UTC), GRACE_DAYS)
        await session.commit()


async def set_status(database: Database, subscription: str, status: str, **values: object) -> None:
    async with database.sessionmaker() as session:
        row = await session.get(Subscription, subscription)
        assert row is not None
        row.status = status
        for name, value in values.items():
            setattr(row, name, value)
        await session.commit()


@pytest.mark.parametrize(
    ("status", "granted"),
    [
        ("trialing", True),
        ("active", True),
        ("canceled", False),
        ("unpaid", False),
        ("incomplete", False),
        ("incomplete_expired", False),
    ],
)
async def test_a_status_grants_the_plan_or_falls_back(
    database: Database, status: str, granted: bool
) -> None:
    name = await person_with_plan(database, "pro")
    await subscription_row(database, plan_code="pro", status=status, hub_name=name)
    await settle_now(database, Owner(hub_name=name))
    assert await plan_of(database, name) == ("pro" if granted else "free")


async def test_past_due_keeps_the_plan_for_the_grace_period_only(database: Database) -> None:
    name = await person_with_plan(database, "free")
    failed = datetime.now(UTC) - timedelta(days=2)
    await subscription_row(
        database, plan_code="pro", status="past_due", hub_name=name, past_due_since=failed
    )
    await settle_now(database, Owner(hub_name=name))
    assert await plan_of(database, name) == "pro"
    # The background round settles it once the grace period is over.
    settings = Settings(_env_file=None, billing_grace_days=GRACE_DAYS)
    await billing_round(database, settings, now=failed + timedelta(days=GRACE_DAYS, minutes=1))
    assert await plan_of(database, name) == "free"


async def test_a_plan_an_admin_gave_later_is_not_taken_away(database: Database) -> None:
    name = await person_with_plan(database, "free")
    subscription = await subscription_row(database, plan_code="pro", status="active", hub_name=name)
    await settle_now(database, Owner(hub_name=name))
    async with database.sessionmaker() as session:
        profile = await session.scalar(select(UserProfile).where(UserProfile.hub_name == name))
        assert profile is not None
        profile.plan_code = "team"  # an admin's PUT /admin/users/{name}/plan
        await session.commit()
    await set_status(database, subscription, "canceled")
    await settle_now(database, Owner(hub_name=name))
    assert await plan_of(database, name) == "team"


async def test_the_largest_of_several_subscriptions_wins(database: Database) -> None:
    name = await person_with_plan(database, "free")
    await subscription_row(database, plan_code="student", status="active", hub_name=name)
    await subscription_row(database, plan_code="pro", status="trialing", hub_name=name)
    await settle_now(database, Owner(hub_name=name))
    assert await plan_of(database, name) == "pro"


async def test_an_organisation_subscription_gives_plan_and_seats_then_ends(
    database: Database,
) -> None:
    tenant_id, names = await organisation(database, members=3)
    subscription = await subscription_row(
        database, plan_code="team", status="active", tenant_id=tenant_id, quantity=5
    )
    await settle_now(database, Owner(tenant_id=tenant_id))
    async with database.sessionmaker() as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        assert (tenant.plan_code, tenant.seats, tenant.member_plan_code) == ("team", 5, "team")
    assert [await plan_of(database, name) for name in names] == ["team"] * 3

    await set_status(database, subscription, "canceled")
    await settle_now(database, Owner(tenant_id=tenant_id))
    async with database.sessionmaker() as session:
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        assert tenant.plan_code is None and tenant.member_plan_code is None
    assert [await plan_of(database, name) for name in names] == ["free"] * 3


async def test_members_get_the_larger_plan_and_keep_what_they_pay_for(
    database: Database,
) -> None:
    tenant_id, names = await organisation(database, members=3)
    payer, imported = names[1], names[2]
    await subscription_row(database, plan_code="pro", status="active", hub_name=payer)
    await settle_now(database, Owner(hub_name=payer))
    subscription = await subscription_row(
        database, plan_code="team", status="trialing", tenant_id=tenant_id, quantity=3
    )
    await settle_now(database, Owner(tenant_id=tenant_id))
    assert await plan_of(database, payer) == "team"  # the larger of the two
    assert await settle_person_again(database, payer) == "team"  # an invoice does not lower it
    async with database.sessionmaker() as session:
        profile = await session.scalar(select(UserProfile).where(UserProfile.hub_name == imported))
        assert profile is not None
        profile.plan_code = "pro"  # an import gave a plan under the organisation's ceiling
        await session.commit()

    await set_status(database, subscription, "canceled")
    await settle_now(database, Owner(tenant_id=tenant_id))
    assert await plan_of(database, names[0]) == "free"
    assert await plan_of(database, payer) == "pro"  # their own subscription again
    assert await plan_of(database, imported) == "free"  # nothing the organisation gave stays


async def settle_person_again(database: Database, name: str) -> str:
    await settle_now(database, Owner(hub_name=name))
    return await plan_of(database, name)


async def test_plans_a_subscription_may_not_give_are_not_granted(database: Database) -> None:
    # A plan switched to in Stripe's portal: the student plan without student status, a
    # per-seat plan for one person, a plan for one person for an organisation.
    student = await person_with_plan(database, "free")
    await subscription_row(database, plan_code="student", status="active", hub_name=student)
    seat = await person_with_plan(database, "free")
    await subscription_row(database, plan_code="team", status="active", hub_name=seat)
    for name in (student, seat):
        await settle_now(database, Owner(hub_name=name))
        assert await plan_of(database, name) == "free"
    tenant_id, names = await organisation(database, members=1)
    await subscription_row(database, plan_code="pro", status="active", tenant_id=tenant_id)
    await settle_now(database, Owner(tenant_id=tenant_id))
    async with database.sessionmaker() as session:
        tenant = await session.get(Tenant, tenant_id)
    assert tenant is not None and tenant.plan_code is None
    assert await plan_of(database, names[0]) == "free"


async def test_a_lapsed_grace_period_is_settled_once(database: Database) -> None:
    name = await person_with_plan(database, "free")
    failed = datetime.now(UTC) - timedelta(days=GRACE_DAYS + 1)
    await subscription_row(
        database, plan_code="pro", status="past_due", hub_name=name, past_due_since=failed
    )
    settings = Settings(_env_file=None, billing_grace_days=GRACE_DAYS)
    await billing_round(database, settings)
    assert await plan_of(database, name) == "free"
    async with database.sessionmaker() as session:
        profile = await session.scalar(select(UserProfile).where(UserProfile.hub_name == name))
        assert profile is not None
        profile.plan_code = "pro"  # an admin helps out while Stripe still retries
        await session.commit()
    await billing_round(database, settings)
    assert await plan_of(database, name) == "pro"


async def test_a_replaced_price_still_names_its_plan(database: Database) -> None:
    old_price = SimpleNamespace(id="price_before_the_change", metadata={"plan": "pro"})
    by_product = SimpleNamespace(id="price_older_still", metadata={}, product="datazentr_team")
    async with database.sessionmaker() as session:
        plan = await plan_sold_by(session, old_price, None)
        assert plan is not None and plan.code == "pro"
        plan = await plan_sold_by(session, by_product, None)
        assert plan is not None and plan.code == "team"
        unknown = SimpleNamespace(id="price_elsewhere", metadata={}, product="prod_other")
        assert await plan_sold_by(session, unknown, None) is None


async def test_a_trial_ending_in_three_days_is_mailed_and_noticed_once(
    database: Database, migrated: Settings, mail_server: SmtpServer
) -> None:
    account = await create_account(database)
    assert account.email is not None
    ends = datetime.now(UTC) + timedelta(days=2)
    subscription = await subscription_row(
        database, plan_code="pro", status="trialing", hub_name=account.username, trial_end=ends
    )
    settings = mail_settings(migrated, mail_server)
    await billing_round(database, settings)
    await billing_round(database, settings)  # once only

    mails = mail_server.inbox.to(account.email)
    assert len(mails) == 1
    assert "Pro trial" in mails[0].message["Subject"]
    assert any(link.endswith("/services/api/accounts/billing") for link in mails[0].links())
    async with database.sessionmaker() as session:
        notices = list(
            await session.scalars(
                select(UsageNotice).where(UsageNotice.hub_name == account.username)
            )
        )
        row = await session.get(Subscription, subscription)
    assert [n.limit_name for n in notices] == ["trial_ending"]
    assert ends.strftime("%d %B %Y") in notices[0].message
    assert row is not None and row.trial_notice_sent_at is not None


async def test_a_trial_further_away_is_not_noticed_yet(
    database: Database, migrated: Settings, mail_server: SmtpServer
) -> None:
    account = await create_account(database)
    assert account.email is not None
    await subscription_row(
        database,
        plan_code="pro",
        status="trialing",
        hub_name=account.username,
        trial_end=datetime.now(UTC) + timedelta(days=10),
    )
    await billing_round(database, mail_settings(migrated, mail_server))
    assert mail_server.inbox.to(account.email) == []
