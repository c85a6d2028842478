"""The billing pages: ``/services/api/accounts/billing`` for a person (plans, upgrade,
the billing portal, bought bundles) and ``/accounts/organisation/billing`` for an
organisation's admins (subscribe per seat, change seats, portal).

Each action is a form with the page's CSRF token; the platform answers with a redirect to
Stripe (Checkout or the portal), and Stripe sends the browser back here with the checkout's
id, which is applied at once so the page shows the new plan.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from api.accounts.pages import form_or_problem, page, redirect, signed_in_account
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.auth import HubUser
from api.billing import checkout, purchases
from api.billing.provider import billing_of
from api.billing.subscriptions import Owner, grants, subscriptions_of
from api.core.config import Settings
from api.deps import SessionDep, settings_of
from api.errors import ApiError, InvalidInput
from api.marketplace.catalogue import get_bundle, price_label
from api.models import Account, Bundle, Plan, UsageNotice, UserProfile
from api.organisations import insights
from api.organisations.insight_pages import admins_only_page
from api.organisations.membership import seats_used
from api.organisations.pages import HERE as ORGANISATION
from api.organisations.pages import forget_changes, refusal
from api.patterns.library import viewer_for

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

HERE = f"{ACCOUNTS_PREFIX}billing"
ORGANISATION_BILLING = f"{ORGANISATION}/billing"

DONE = {
    "plan": "Thank you: your new plan is active.",
    "bundle": "Thank you: the bundle is yours and installed in your library.",
    "open": (
        "Stripe has not confirmed the payment yet; once it does, this page shows what you bought."
    ),
    "cancelled": "The checkout was cancelled; nothing was charged.",
    "seats": "The seats were changed; Stripe prorates the difference.",
}


# Where the pages' forms may lead: Checkout and the portal are Stripe's own pages (a form's
# redirect to them is bound by the page's form-action too).
STRIPE_PAGES = "https://checkout.stripe.com https://billing.stripe.com"


def with_stripe_forms(response: Response, settings: Settings) -> Response:
    """The page's policy, with Stripe's pages (or the test server's) as form targets."""
    policy = response.headers.get("Content-Security-Policy")
    if policy and settings.billing_enabled:
        targets = settings.stripe_api_base or STRIPE_PAGES
        response.headers["Content-Security-Policy"] = policy.replace(
            "form-action 'self'", f"form-action 'self' {targets}"
        )
    return response


def _away(url: str) -> RedirectResponse:
    """To Stripe (another origin): a plain 303 the browser follows."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def _plans(db: SessionDep) -> list[Plan]:
    return list(await db.scalars(select(Plan).order_by(Plan.rank)))


async def _notices(db: SessionDep, name: str) -> list[UsageNotice]:
    today = datetime.now(UTC).date()
    return list(
        await db.scalars(
            select(UsageNotice)
            .where(UsageNotice.hub_name == name, UsageNotice.day == today)
            .order_by(UsageNotice.created_at)
        )
    )


async def _finish(
    request: Request,
    db: SessionDep,
    account: Account,
    checkout_id: str,
    tenant_id: uuid.UUID | None = None,
) -> str:
    settings = settings_of(request)
    if checkout_id == "cancelled" or not settings.billing_enabled:
        return "cancelled"
    try:
        return await checkout.finish_checkout(
            db, billing_of(request), settings, account, checkout_id, tenant_id
        )
    except (ApiError, stripe.StripeError) as exc:
        # The webhook applies it when Stripe answers again; the page says it is on its way.
        log.info("checkout %s for %s not applied: %s", checkout_id, account.username, exc)
        return "open"


async def billing_page(
    request: Request, db: SessionDep, account: Account, *, status: int = 200, **context: Any
) -> Response:
    settings = settings_of(request)
    context.setdefault("done_message", "")
    profile = await db.scalar(select(UserProfile).where(UserProfile.hub_name == account.username))
    now = datetime.now(UTC)
    subscriptions = await subscriptions_of(db, Owner(hub_name=account.username))
    current = next(
        (row for row in subscriptions if grants(row, now, settings.billing_grace_days)), None
    )
    standing = await insights.standing_of(db, account)
    shown = page(
        request,
        "billing",
        status=status,
        account=account,
        here=HERE,
        billing_enabled=settings.billing_enabled,
        plans=await _plans(db),
        plan_code=profile.plan_code if profile else "free",
        subscription=current,
        subscriptions=subscriptions,
        purchases=await purchases.purchases_of(db, account.username),
        notices=await _notices(db, account.username),
        student=account.student_verified_at is not None,
        organisation=standing.tenant,
        organisation_admin=standing.is_admin,
        organisation_billing=ORGANISATION_BILLING,
        **context,
    )
    return with_stripe_forms(shown, settings)


@router.get("/billing")
async def billing(request: Request, db: SessionDep, checkout: str = "", done: str = "") -> Response:
    account = await signed_in_account(request, db, HERE)
    if not isinstance(account, Account):
        return account
    if checkout:
        return redirect(f"{HERE}?done={await _finish(request, db, account, checkout)}")
    return await billing_page(request, db, account, done_message=DONE.get(done, ""))


async def _signed_form(
    request: Request, db: SessionDep, here: str
) -> tuple[Account, dict[str, str]] | Response:
    """The signed-in account and its form (token checked), or the page to go to instead."""
    account = await signed_in_account(request, db, here)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    return account, fields


async def _refused(request: Request, db: SessionDep, account: Account, exc: ApiError) -> Response:
    await forget_changes(db, account)
    return await billing_page(request, db, account, **refusal(exc))


@router.post("/billing/checkout")
async def start_checkout(request: Request, db: SessionDep) -> Response:
    sent = await _signed_form(request, db, HERE)
    if isinstance(sent, Response):
        return sent
    account, fields = sent
    settings = settings_of(request)
    try:
        provider = billing_of(request)
        url = await checkout.start_personal_checkout(
            db, provider, settings, account, fields.get("plan", ""), fields.get("interval", "month")
        )
    except ApiError as exc:
        return await _refused(request, db, account, exc)
    return _away(url)


@router.post("/billing/portal")
async def open_portal(request: Request, db: SessionDep) -> Response:
    sent = await _signed_form(request, db, HERE)
    if isinstance(sent, Response):
        return sent
    account, _ = sent
    settings = settings_of(request)
    try:
        url = await checkout.portal_url(
            db, billing_of(request), Owner(hub_name=account.username), _absolute(settings, HERE)
        )
    except ApiError as exc:
        return await _refused(request, db, account, exc)
    return _away(url)


def _absolute(settings: Settings, path: str) -> str:
    return f"{settings.public_base_url}{path.lstrip('/')}"


# Paid bundles -------------------------------------------------------------------------------


@router.get("/billing/bundles/{bundle_id}")
async def bundle_page(request: Request, db: SessionDep, bundle_id: uuid.UUID) -> Response:
    here = f"{HERE}/bundles/{bundle_id}"
    account = await signed_in_account(request, db, here)
    if not isinstance(account, Account):
        return account
    return await _bundle_page(request, db, account, bundle_id)


async def _bundle_page(
    request: Request, db: SessionDep, account: Account, bundle_id: uuid.UUID, **context: Any
) -> Response:
    viewer = await viewer_for(db, HubUser(name=account.username, admin=False))
    try:
        bundle = await get_bundle(db, viewer, bundle_id)
    except ApiError as exc:
        return page(
            request,
            "account_message",
            status=exc.status,
            account=account,
            title="No such bundle",
            message=exc.message,
            back_url=HERE,
            back_label="Billing",
        )
    shown = page(
        request,
        "billing_bundle",
        account=account,
        here=HERE,
        bundle=bundle,
        price=price_label(bundle),
        owned=await purchases.owns(db, account.username, bundle.id),
        billing_enabled=settings_of(request).billing_enabled,
        **context,
    )
    return with_stripe_forms(shown, settings_of(request))


@router.post("/billing/bundles/{bundle_id}")
async def buy_bundle(request: Request, db: SessionDep, bundle_id: uuid.UUID) -> Response:
    here = f"{HERE}/bundles/{bundle_id}"
    sent = await _signed_form(request, db, here)
    if isinstance(sent, Response):
        return sent
    account, _ = sent
    settings = settings_of(request)
    try:
        provider = billing_of(request)
        viewer = await viewer_for(db, HubUser(name=account.username, admin=False))
        bundle: Bundle = await get_bundle(db, viewer, bundle_id)
        url = await purchases.start_purchase(
            db,
            provider,
            settings,
            hub_name=account.username,
            email=account.email if account.email_verified_at else None,
            bundle=bundle,
            return_url=_absolute(settings, HERE),
        )
    except ApiError as exc:
        await forget_changes(db, account)
        return await _bundle_page(request, db, account, bundle_id, **refusal(exc))
    return _away(url)


# Organisations -----------------------------------------------------------------------------


async def organisation_page(
    request: Request, db: SessionDep, account: Account, standing: insights.Standing, **context: Any
) -> Response:
    settings = settings_of(request)
    context.setdefault("done_message", "")
    tenant = standing.tenant
    assert tenant is not None
    now = datetime.now(UTC)
    subscriptions = await subscriptions_of(db, Owner(tenant_id=tenant.id))
    current = next(
        (row for row in subscriptions if grants(row, now, settings.billing_grace_days)), None
    )
    members = await seats_used(db, tenant)
    own_plan = await db.get(Plan, tenant.plan_code) if tenant.plan_code else None
    shown = page(
        request,
        "organisation_billing",
        account=account,
        tenant=tenant,
        here=ORGANISATION,
        billing_here=ORGANISATION_BILLING,
        billing_enabled=settings.billing_enabled,
        plans=[plan for plan in await _plans(db) if plan.per_seat],
        subscription=current,
        subscriptions=subscriptions,
        members=members,
        plan_name=own_plan.name if own_plan else tenant.plan_code,
        **context,
    )
    return with_stripe_forms(shown, settings)


async def _organisation_admin(
    request: Request, db: SessionDep
) -> tuple[Account, insights.Standing] | Response:
    account = await signed_in_account(request, db, ORGANISATION_BILLING)
    if not isinstance(account, Account):
        return account
    standing = await insights.standing_of(db, account)
    if standing.tenant is None or not standing.is_admin:
        return admins_only_page(
            request,
            account,
            standing,
            nowhere="there is no organisation's billing to show",
            only="manage its billing",
        )
    return account, standing


@router.get("/organisation/billing")
async def organisation_billing(
    request: Request, db: SessionDep, checkout: str = "", done: str = ""
) -> Response:
    found = await _organisation_admin(request, db)
    if isinstance(found, Response):
        return found
    account, standing = found
    assert standing.tenant is not None
    if checkout:
        result = await _finish(request, db, account, checkout, standing.tenant.id)
        return redirect(f"{ORGANISATION_BILLING}?done={result}")
    return await organisation_page(request, db, account, standing, done_message=DONE.get(done, ""))


@router.post("/organisation/billing/{action}")
async def organisation_action(request: Request, db: SessionDep, action: str) -> Response:
    found = await _organisation_admin(request, db)
    if isinstance(found, Response):
        return found
    account, standing = found
    tenant = standing.tenant
    assert tenant is not None
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    settings = settings_of(request)
    try:
        provider = billing_of(request)
        if action == "checkout":
            url = await checkout.start_organisation_checkout(
                db,
                provider,
                settings,
                account,
                tenant,
                fields.get("plan", ""),
                fields.get("interval", "month"),
                _seats(fields.get("seats", "")),
                _absolute(settings, ORGANISATION_BILLING),
            )
            return _away(url)
        if action == "portal":
            return _away(
                await checkout.portal_url(
                    db,
                    provider,
                    Owner(tenant_id=tenant.id),
                    _absolute(settings, ORGANISATION_BILLING),
                )
            )
        if action == "seats":
            await checkout.change_seats(
                db, provider, settings, tenant, _seats(fields.get("seats", ""))
            )
            return redirect(f"{ORGANISATION_BILLING}?done=seats")
    except ApiError as exc:
        await forget_changes(db, account)
        standing = await insights.standing_of(db, account)
        return await organisation_page(
            request,
            db,
            account,
            standing,
            **refusal(exc),
            values={"seats": fields.get("seats", "")},
        )
    return redirect(ORGANISATION_BILLING)


def _seats(value: str) -> int:
    try:
        seats = int(value.strip())
    except ValueError:
        raise InvalidInput.at(
            "seats", "Give the number of seats as a whole number, e.g. 10."
        ) from None
    if not 1 <= seats <= 100_000:
        raise InvalidInput.at("seats", "Give between 1 and 100,000 seats.")
    return seats
