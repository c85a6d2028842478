"""Billing analytics for the platform's admins: what the billing dashboard shows.

Computed on each call from the platform's copy of Stripe's subscriptions, the bought
bundles, the usage meters, the plans and the organisations, across every organisation
(the caller's session must be in platform scope). Amounts are in cents of the plans'
currency (``billing_currency``), at the plans' current prices. "Now" is the moment of the
call; the window is the ``window_days`` (30) before it; usage counts the ``usage_days`` (7)
UTC days ending today. A platform without subscriptions gets zeros, never an error.

What each number means:

- **Subscriptions by plan and status**: how many subscriptions each plan has in each of
  Stripe's statuses (``trialing``, ``active``, ``past_due``, ``canceled``, ``unpaid``,
  ``incomplete``...); *seats* sums the quantity of its active and trialing ones.
- **MRR** (monthly recurring revenue): the sum over ``active`` subscriptions (trialing and
  past-due ones are not revenue yet, or not now) of the plan's monthly price times the
  quantity; a yearly subscription counts its plan's yearly price / 12. Rounded to the
  cent. **ARR** is MRR * 12.
- **Trials now**: subscriptions whose status is ``trialing``.
- **Trial conversion**: of the subscriptions whose trial ended in the window, the share
  whose status is ``active`` now (0 when no trial ended).
- **Churn**: of the subscriptions paying at the window's start, the share canceled in the
  window. *Paying at the start*: created before it, out of any trial by then, and either
  ``active`` or ``past_due`` now or canceled in the window. A subscription's cancellation
  time is its row's last change: Stripe never changes a canceled subscription again.
  *Canceled* also counts the cancellations of subscriptions that were not paying at the
  start (trials that ended without converting).
- **Usage per plan**: each meter's sum over the usage days, of the people on each plan by
  their profile now (people without a profile count on the free plan); *people* are those
  with any meter row in those days.
- **Largest organisations**: the ten with most members (profiles in them), then most
  subscribed seats (the quantity of their active, trialing and past-due subscriptions);
  *seats* is the organisation's cap on members.
- **Paid bundle revenue**: bundles bought through Checkout, in the plans' currency;
  *net* is the amount of the purchases minus those refunded; the window's net counts the
  purchases made in the window. Purchases in another currency are listed apart by
  currency (their net), never converted.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.models import BundlePurchase, Plan, Subscription, Tenant, UsageMeter, UserProfile
from api.models.billing import METERS
from api.models.profile import DEFAULT_PLAN
from api.schemas.billing_analytics import (
    BillingAnalytics,
    BundleRevenue,
    Churn,
    Organisation,
    PlanSubscriptions,
    PlanUsage,
    Trials,
)

WINDOW_DAYS = 30
USAGE_DAYS = 7
LARGEST_ORGANISATIONS = 10
# Subscriptions whose seats an organisation holds, and those counted as seats of a plan.
HOLDING = ("trialing", "active", "past_due")
SEATED = ("trialing", "active")

DEFINITIONS = {
    "mrr": "Sum over active subscriptions of the plan's monthly price x quantity; yearly "
    "ones count the yearly price / 12. Trialing and past-due ones are not counted.",
    "arr": "MRR x 12.",
    "trials": "Subscriptions trialing now.",
    "trial_conversion": "Of the subscriptions whose trial ended in the window, the share "
    "active now.",
    "churn": "Of the subscriptions paying at the window's start (created before it, out of "
    "trial, active or past-due now or canceled in the window), the share canceled in it.",
    "usage": "Each meter summed over the usage days, by the plan on each person's profile.",
    "organisations": "The largest organisations by members, then by subscribed seats.",
    "bundles": "Paid bundles: purchases minus refunds, in the plans' currency.",
}


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _cents(amount: Fraction) -> int:
    """Whole cents, halves rounded up."""
    return floor(amount + Fraction(1, 2))


def _monthly(plan: Plan, interval: str, quantity: int) -> Fraction:
    if interval == "year":
        return Fraction((plan.price_cents_per_year or 0) * quantity, 12)
    return Fraction((plan.price_cents_per_month or 0) * quantity)


async def _plans(
    session: AsyncSession, plans: list[Plan]
) -> tuple[list[PlanSubscriptions], Fraction, dict[str, int]]:
    """Subscriptions by plan and status, each plan's MRR, the total MRR and the count of
    each status over all plans."""
    by_code = {plan.code: plan for plan in plans}
    rows = await session.execute(
        select(
            Subscription.plan_code,
            Subscription.status,
            Subscription.interval,
            func.count(),
            func.coalesce(func.sum(Subscription.quantity), 0),
        ).group_by(Subscription.plan_code, Subscription.status, Subscription.interval)
    )
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seats: dict[str, int] = defaultdict(int)
    mrr: dict[str, Fraction] = defaultdict(Fraction)
    totals: dict[str, int] = defaultdict(int)
    for code, status, interval, count, quantity in rows:
        statuses[code][status] += int(count)
        totals[status] += int(count)
        if status in SEATED:
            seats[code] += int(quantity)
        if status == "active" and code in by_code:
            mrr[code] += _monthly(by_code[code], interval, int(quantity))
    out = [
        PlanSubscriptions(
            plan_code=plan.code,
            plan_name=plan.name,
            statuses=dict(sorted(statuses[plan.code].items())),
            total=sum(statuses[plan.code].values()),
            seats=seats[plan.code],
            mrr_cents=_cents(mrr[plan.code]),
        )
        for plan in plans
    ]
    return out, sum(mrr.values(), Fraction()), dict(totals)


async def _trials(session: AsyncSession, start: datetime, now: datetime) -> Trials:
    trialing = await session.scalar(select(func.count()).where(Subscription.status == "trialing"))
    ended, converted = (
        await session.execute(
            select(func.count(), func.count().filter(Subscription.status == "active")).where(
                Subscription.trial_end >= start, Subscription.trial_end <= now
            )
        )
    ).one()
    return Trials(
        now=int(trialing or 0),
        ended=int(ended),
        converted=int(converted),
        conversion_rate=_ratio(int(converted), int(ended)),
    )


async def _churn(session: AsyncSession, start: datetime) -> Churn:
    canceled_in_window = and_(Subscription.status == "canceled", Subscription.updated_at >= start)
    paying_at_start = and_(
        Subscription.stripe_created_at < start,
        or_(Subscription.trial_end.is_(None), Subscription.trial_end <= start),
        or_(Subscription.status.in_(("active", "past_due")), canceled_in_window),
    )
    paying, churned, canceled = (
        await session.execute(
            select(
                func.count().filter(paying_at_start),
                func.count().filter(paying_at_start, canceled_in_window),
                func.count().filter(canceled_in_window),
            )
        )
    ).one()
    return Churn(
        active_at_start=int(paying),
        churned=int(churned),
        canceled=int(canceled),
        rate=_ratio(int(churned), int(paying)),
    )


async def _usage(
    session: AsyncSession, plans: list[Plan], first: date, last: date
) -> list[PlanUsage]:
    plan = func.coalesce(UserProfile.plan_code, DEFAULT_PLAN)

    def over_the_days(*columns: Any) -> Select[Any]:
        return (
            select(plan, *columns)
            .select_from(UsageMeter)
            .outerjoin(UserProfile, UserProfile.hub_name == UsageMeter.hub_name)
            .where(UsageMeter.day >= first, UsageMeter.day <= last)
            .group_by(plan)
        )

    meters: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METERS, 0))
    sums = over_the_days(UsageMeter.meter, func.sum(UsageMeter.quantity))
    for code, meter, total in await session.execute(sums.group_by(UsageMeter.meter)):
        meters[code][meter] = int(total or 0)
    people = over_the_days(func.count(UsageMeter.hub_name.distinct()))
    counted = {code: int(n) for code, n in await session.execute(people)}
    return [
        PlanUsage(
            plan_code=p.code,
            plan_name=p.name,
            people=counted.get(p.code, 0),
            meters=meters[p.code],
        )
        for p in plans
    ]


async def _organisations(session: AsyncSession, limit: int) -> list[Organisation]:
    members = (
        select(UserProfile.tenant_id, func.count().label("n"))
        .where(UserProfile.tenant_id.is_not(None))
        .group_by(UserProfile.tenant_id)
        .subquery()
    )
    held = (
        select(Subscription.tenant_id, func.sum(Subscription.quantity).label("n"))
        .where(Subscription.tenant_id.is_not(None), Subscription.status.in_(HOLDING))
        .group_by(Subscription.tenant_id)
        .subquery()
    )
    member_count = func.coalesce(members.c.n, 0)
    seat_count = func.coalesce(held.c.n, 0)
    rows = await session.execute(
        select(Tenant.id, Tenant.slug, Tenant.name, Tenant.plan_code, Tenant.seats)
        .add_columns(member_count, seat_count)
        .outerjoin(members, members.c.tenant_id == Tenant.id)
        .outerjoin(held, held.c.tenant_id == Tenant.id)
        .order_by(member_count.desc(), seat_count.desc(), Tenant.name, Tenant.slug)
        .limit(limit)
    )
    return [
        Organisation(
            tenant_id=tenant_id,
            slug=slug,
            name=name,
            plan_code=plan_code,
            seats=seats,
            members=int(n_members),
            subscribed_seats=int(n_seats),
        )
        for tenant_id, slug, name, plan_code, seats, n_members, n_seats in rows
    ]


async def _bundles(session: AsyncSession, currency: str, start: datetime) -> BundleRevenue:
    refunded = BundlePurchase.status == "refunded"
    paid = BundlePurchase.status == "paid"
    amount = BundlePurchase.amount_cents
    purchases, refunds, gross, refunded_cents, net_window = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(refunded),
                func.coalesce(func.sum(amount), 0),
                func.coalesce(func.sum(amount).filter(refunded), 0),
                func.coalesce(
                    func.sum(amount).filter(paid, BundlePurchase.purchased_at >= start), 0
                ),
            ).where(func.lower(BundlePurchase.currency) == currency)
        )
    ).one()
    others = await session.execute(
        select(func.lower(BundlePurchase.currency), func.sum(amount))
        .where(paid, func.lower(BundlePurchase.currency) != currency)
        .group_by(func.lower(BundlePurchase.currency))
    )
    return BundleRevenue(
        purchases=int(purchases),
        refunds=int(refunds),
        gross_cents=int(gross),
        refunded_cents=int(refunded_cents),
        net_cents=int(gross) - int(refunded_cents),
        net_cents_in_window=int(net_window),
        net_cents_other_currencies={code: int(total) for code, total in others},
    )


async def billing_analytics(
    session: AsyncSession,
    settings: Settings,
    *,
    now: datetime | None = None,
    window_days: int = WINDOW_DAYS,
    usage_days: int = USAGE_DAYS,
) -> BillingAnalytics:
    """Every number of the billing dashboard at ``now`` (default: this moment); the session
    must be in platform scope (``api.core.tenancy.PLATFORM``)."""
    now = now or datetime.now(UTC)
    start = now - timedelta(days=window_days)
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=usage_days - 1)
    currency = settings.billing_currency.lower()
    plans = list(await session.scalars(select(Plan).order_by(Plan.rank, Plan.code)))
    by_plan, mrr, statuses = await _plans(session, plans)
    mrr_cents = _cents(mrr)
    return BillingAnalytics(
        generated_at=now,
        currency=currency,
        window_days=window_days,
        window_start=start,
        usage_days=usage_days,
        usage_from=first,
        subscriptions=sum(statuses.values()),
        active=statuses.get("active", 0),
        trialing=statuses.get("trialing", 0),
        past_due=statuses.get("past_due", 0),
        mrr_cents=mrr_cents,
        arr_cents=mrr_cents * 12,
        trials=await _trials(session, start, now),
        churn=await _churn(session, start),
        plans=by_plan,
        usage=await _usage(session, plans, first, today),
        organisations=await _organisations(session, LARGEST_ORGANISATIONS),
        bundles=await _bundles(session, currency, start),
        definitions=DEFINITIONS,
    )
