"""An organisation's admins import people into it from a class list, under
``/services/api/accounts/organisation/import``.

The same file, check and result as the platform admins' import (:mod:`api.accounts.bulk_import`,
its organisation rules): every row goes into the admin's own organisation, as a student,
developer or organisation admin, on a plan its member defaults offer, within its seats; each
person gets an invitation mail and takes up the account on ``/accounts/invitation``. A
member who is not an admin gets a 403 page, a person in no organisation a 404.

Each handler runs in the person's scope (set by ``signed_in_account``) and holds the
organisation's row locked (``membership.admin_of``) from the check to the commit, so seats
taken meanwhile by a join are counted.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import bulk_import, invitations
from api.accounts.admin_pages import read_import_form
from api.accounts.administration import ROLE_LABELS
from api.accounts.errors import AccountError, CsrfRefused, FormError
from api.accounts.pages import (
    form_or_problem,
    mailer_for,
    page,
    problem_page,
    redirect,
    signed_in_account,
)
from api.deps import SessionDep, settings_of
from api.models import Account, Tenant, UserProfile
from api.models.profile import DEFAULT_PLAN
from api.organisations import insights, member_defaults, membership
from api.organisations.insight_pages import admins_only_page
from api.organisations.pages import HERE, forget_changes

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts/organisation", include_in_schema=False)

IMPORT = f"{HERE}/import"
RESEND = f"{IMPORT}/invitations/"
DOING = "import members"


async def _signed_in_admin(request: Request, db: AsyncSession) -> tuple[Account, Tenant] | Response:
    """The signed-in admin and their organisation (locked), or the page anyone else sees."""
    account = await signed_in_account(request, db, IMPORT)
    if not isinstance(account, Account):
        return account
    standing = await insights.standing_of(db, account)
    if standing.tenant is None or not standing.is_admin:
        log.info("organisation import refused for %s", account.username)
        return admins_only_page(
            request,
            account,
            standing,
            nowhere="there is nobody to import members into",
            only="can import members",
        )
    return account, await membership.admin_of(db, account, DOING)


async def _page(
    request: Request,
    db: AsyncSession,
    template: str,
    account: Account,
    tenant: Tenant,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    plans = await member_defaults.offered_plans(db, tenant)
    used = await membership.seats_used(db, tenant)
    return page(
        request,
        template,
        status=status,
        account=account,
        tenant=tenant,
        here=HERE,
        import_url=IMPORT,
        role_labels=ROLE_LABELS,
        roles=bulk_import.ORGANISATION_ROLES,
        plans=[plan.code for plan in plans],
        default_plan=tenant.member_plan_code or DEFAULT_PLAN,
        free_seats=max((tenant.seats or 0) - used, 0),
        columns=bulk_import.COLUMNS,
        example=bulk_import.organisation_example(tenant),
        max_rows=bulk_import.MAX_ROWS,
        max_kb=bulk_import.MAX_FILE_BYTES // 1024,
        **context,
    )


async def _form(
    request: Request,
    db: AsyncSession,
    account: Account,
    tenant: Tenant,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    csv: str = "",
) -> Response:
    return await _page(
        request,
        db,
        "organisation_import",
        account,
        tenant,
        status=status,
        error=error,
        done_message=notice,
        csv=csv,
    )


@router.get("/import")
async def import_page(request: Request, db: SessionDep, done: str = "") -> Response:
    admin = await _signed_in_admin(request, db)
    if isinstance(admin, Response):
        return admin
    notice = (
        f"The invitation was mailed again. It works for {invitations.LIFETIME_DAYS} days."
        if done == "resent"
        else None
    )
    return await _form(request, db, *admin, notice=notice)


@router.post("/import")
async def import_members(request: Request, db: SessionDep) -> Response:
    admin = await _signed_in_admin(request, db)
    if isinstance(admin, Response):
        return admin
    account, tenant = admin
    try:
        fields, data = await read_import_form(request)
    except CsrfRefused as exc:
        return problem_page(request, exc, account=account)
    except FormError as exc:
        return await _form(request, db, account, tenant, status=413, error=exc.message)
    if data is None:
        return await _form(
            request,
            db,
            account,
            tenant,
            status=422,
            error="Choose a CSV file or paste its rows, then check it.",
        )
    text = data.decode("utf-8-sig", errors="replace")
    if fields.get("action") == "import":
        result = await bulk_import.run_import(
            db, settings_of(request), mailer_for(request), data, actor=account, organisation=tenant
        )
        if result.imported:
            return await _page(
                request, db, "organisation_import_done", account, tenant, result=result
            )
        # The failed import was rolled back: what the session held is stale.
        await db.refresh(account)
        await db.refresh(tenant)
        check = result.check
    else:
        check = await bulk_import.check_organisation_import(db, data, tenant)
    return await _page(
        request,
        db,
        "organisation_import_report",
        account,
        tenant,
        status=200 if check.can_import else 422,
        check=check,
        csv=text,
    )


@router.post("/import/invitations/{account_id}")
async def resend_invitation(request: Request, db: SessionDep, account_id: str) -> Response:
    """A new invitation mail for an imported member who has not taken up their account."""
    admin = await _signed_in_admin(request, db)
    if isinstance(admin, Response):
        return admin
    account, tenant = admin
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        key = None
    target = await db.get(Account, key) if key else None
    # Only the organisation's own members: the scope shows no other organisation's profiles.
    member = target is not None and await db.scalar(
        select(UserProfile.hub_name).where(
            UserProfile.hub_name == target.username, UserProfile.tenant_id == tenant.id
        )
    )
    if target is None or not member:
        return await _form(
            request,
            db,
            account,
            tenant,
            status=404,
            error=f"That account is not a member of {tenant.name} (any more).",
        )
    try:
        await invitations.resend_invitation(
            db, settings_of(request), mailer_for(request), target, actor=account
        )
    except AccountError as exc:
        await forget_changes(db, account)
        await db.refresh(tenant)
        return await _form(request, db, account, tenant, status=exc.status, error=exc.message)
    return redirect(f"{IMPORT}?done=resent")
