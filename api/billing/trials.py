"""Telling people before a trial ends, and the background rounds billing needs.

Three days before a trial ends (Stripe's ``customer.subscription.trial_will_end``, or the
worker's own round when that event is missed) the person, or an organisation's admins,
get a mail and an in-product notice with the billing page's link. ``trial_notice_sent_at``
makes it once per subscription. The round also settles subscriptions whose grace period
(``past_due``) ran out, so their plans fall back without waiting for Stripe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.mail import Mailer, compose
from api.billing import billing_page_url, overage
from api.billing.provider import BillingProvider, StripeRefused
from api.billing.subscriptions import GRACE, Owner, settle
from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.events import append_event
from api.models import Account, Plan, Subscription, UsageNotice, UserProfile

log = logging.getLogger(__name__)

TRIAL_NOTICE_DAYS = 3
TRIAL_NOTICE = "trial_ending"


async def _recipients(session: AsyncSession, row: Subscription) -> list[tuple[str, str | None]]:
    """(hub name, verified address) of whoever the subscription's notices are for."""
    if row.hub_name is not None:
        names = [row.hub_name]
    else:
        names = list(
            await session.scalars(
                select(UserProfile.hub_name).where(
                    UserProfile.tenant_id == row.tenant_id, UserProfile.tenant_role == "admin"
                )
            )
        )
    accounts = {
        account.username: account
        for account in await session.scalars(select(Account).where(Account.username.in_(names)))
    }
    out = []
    for name in names:
        account = accounts.get(name)
        verified = account is not None and account.email_verified_at is not None
        out.append((name, account.email if verified and account else None))
    return out


async def notify_trial_ending(
    session: AsyncSession, settings: Settings, subscription_id: str, now: datetime
) -> list[str]:
    """Raise the trial-ending notice once (in the caller's transaction); the addresses to
    mail once it commits (:func:`mail_trial_ending`)."""
    row = await session.scalar(
        select(Subscription)
        .where(Subscription.stripe_subscription_id == subscription_id)
        .with_for_update()
    )
    if row is None or row.status != "trialing" or row.trial_end is None:
        return []
    if row.trial_notice_sent_at is not None:
        return []
    if row.trial_end - now > timedelta(days=TRIAL_NOTICE_DAYS, minutes=5):
        return []
    row.trial_notice_sent_at = now
    plan = await session.get(Plan, row.plan_code)
    name = plan.name if plan else row.plan_code
    ends = row.trial_end.strftime("%d %B %Y")
    message = (
        f"Your {name} trial ends on {ends}. Add a payment method to keep {name}; without one "
        f"the subscription ends then and the free plan's limits apply. Billing: "
        f"{billing_page_url(settings)}"
    )
    addresses = []
    for hub_name, address in await _recipients(session, row):
        await session.execute(
            insert(UsageNotice)
            .values(
                hub_name=hub_name,
                day=now.date(),
                limit_name=TRIAL_NOTICE,
                threshold=100,
                tenant_id=row.tenant_id,
                message=message,
                mailed_at=now if address else None,
            )
            .on_conflict_do_nothing()
        )
        if address:
            addresses.append(address)
    append_event(
        session,
        stream=Owner(row.hub_name, row.tenant_id).stream,
        type="billing.trial_ending",
        actor="billing",
        payload={"subscription": subscription_id, "trial_end": row.trial_end.isoformat()},
        tenant_id=row.tenant_id,
    )
    session.info.setdefault("trial_mails", []).append((addresses, name, ends))
    return addresses


async def mail_trial_ending(session: AsyncSession, settings: Settings) -> None:
    """Send the trial mails the committed transaction raised (at most once each)."""
    mailer = Mailer(settings)
    for addresses, plan_name, ends in session.info.pop("trial_mails", []):
        for address in addresses:
            try:
                await mailer.send(
                    compose(
                        settings,
                        to=address,
                        template="trial_ending",
                        plan=plan_name,
                        ends=ends,
                        url=billing_page_url(settings),
                    )
                )
            except Exception:  # a mail server away must not undo the notice
                log.exception("trial mail to %s failed", address)


async def send_overage(database: Database, provider: BillingProvider) -> int:
    """Send the queued overage to Stripe as meter events; how many were sent. Each report's
    id is the event's identifier, so a report sent again after a crash counts once."""
    sent = 0
    async with database.scoped(PLATFORM) as session:
        for report in await overage.pending(session):
            try:
                await provider.meter_event(
                    report.event_name,
                    report.stripe_customer_id,
                    report.value,
                    identifier=f"datazentr-meter-report-{report.id}",
                )
            except StripeRefused as exc:
                # Refused for good (no such meter or customer): logged, and out of the way
                # of the reports after it.
                log.error("overage report %s refused by Stripe: %s", report.id, exc.message)
            sent += await overage.mark_sent(session, [report.id])
        await session.commit()
    return sent


async def billing_round(
    database: Database,
    settings: Settings,
    now: datetime | None = None,
    provider: BillingProvider | None = None,
) -> None:
    """One background round: trial notices due, grace periods that ran out, and overage
    owed to Stripe."""
    now = now or datetime.now(UTC)
    async with database.scoped(PLATFORM) as session:
        due = list(
            await session.scalars(
                select(Subscription.stripe_subscription_id).where(
                    Subscription.status == "trialing",
                    Subscription.trial_notice_sent_at.is_(None),
                    Subscription.trial_end <= now + timedelta(days=TRIAL_NOTICE_DAYS),
                )
            )
        )
        for subscription_id in due:
            await notify_trial_ending(session, settings, subscription_id, now)
        lapsed = list(
            await session.scalars(
                select(Subscription).where(
                    Subscription.status == GRACE,
                    Subscription.past_due_since
                    <= now - timedelta(days=settings.billing_grace_days),
                    Subscription.grace_ended_at.is_(None),
                )
            )
        )
        for row in lapsed:
            # Once: a plan an admin gives afterwards is not taken again every round.
            row.grace_ended_at = now
            await settle(
                session, Owner(row.hub_name, row.tenant_id), now, settings.billing_grace_days
            )
        await session.commit()
        await mail_trial_ending(session, settings)
    if settings.billing_enabled:
        await send_overage(database, provider or BillingProvider(settings))
