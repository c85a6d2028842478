"""The platform admins' organisations page: ``/services/api/accounts/admin/organisations``.

It lists every organisation (its kind, members, seats, e-mail domains, single sign-on
issuer and whether it is on) and, per domain, whether a platform admin approved single
sign-on for it, with Approve / Revoke buttons. An organisation's admins list its domains
themselves; a platform admin approving one vouches that the organisation owns it, and only
then does the sign-in page send people there to the organisation's provider
(``api.organisations.sso.approve_domains``).

As on the other admin pages, anyone but a platform admin gets a 403 page, a signed-out
browser the sign-in page; the forms carry the form token and end in a redirect with a
notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.admin_pages import ADMIN, admin_page, signed_in_admin
from api.accounts.pages import form_or_problem, redirect
from api.deps import SessionDep
from api.errors import ApiError
from api.models import Account, Tenant, UserProfile
from api.organisations import sso

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

ORGANISATIONS = f"{ADMIN}/organisations"
NOTICES = {
    "approved": "Single sign-on is approved for {domain}: people there are sent to the "
    "organisation's sign-in service.",
    "revoked": "Single sign-on is no longer approved for {domain}: people there sign in "
    "with a password or a mailed link.",
}


@dataclass(frozen=True)
class OrganisationRow:
    tenant: Tenant
    members: int
    approved: frozenset[str]


async def _rows(db: AsyncSession) -> list[OrganisationRow]:
    result = await db.execute(
        select(UserProfile.tenant_id, func.count())
        .where(UserProfile.tenant_id.is_not(None))
        .group_by(UserProfile.tenant_id)
    )
    counts = {tenant_id: int(count) for tenant_id, count in result}
    tenants = await db.scalars(select(Tenant).order_by(Tenant.name, Tenant.slug))
    return [
        OrganisationRow(
            tenant=tenant,
            members=counts.get(tenant.id, 0),
            approved=frozenset(sso.routed_domains(tenant)),
        )
        for tenant in tenants
    ]


async def _page(
    request: Request,
    db: AsyncSession,
    admin: Account,
    *,
    status: int = 200,
    done: str = "",
    domain: str = "",
    error: str | None = None,
) -> Response:
    rows = await _rows(db)
    # The notice names a domain one of the organisations lists, nothing else from the URL.
    listed = any(domain in row.tenant.email_domains for row in rows)
    notice = NOTICES[done].format(domain=domain) if done in NOTICES and listed else None
    response = admin_page(
        request,
        "admin_organisations",
        admin,
        status=status,
        rows=rows,
        action_prefix=f"{ORGANISATIONS}/",
        notice=notice,
        error=error,
    )
    await db.rollback()
    return response


@router.get("/admin/organisations")
async def organisations_page(
    request: Request, db: SessionDep, done: str = "", domain: str = ""
) -> Response:
    admin = await signed_in_admin(request, db, ORGANISATIONS)
    if not isinstance(admin, Account):
        return admin
    return await _page(request, db, admin, done=done, domain=domain)


@router.post("/admin/organisations/{slug}/sso-domains")
async def change_sso_domains(request: Request, db: SessionDep, slug: str) -> Response:
    admin = await signed_in_admin(request, db, ORGANISATIONS)
    if not isinstance(admin, Account):
        return admin
    fields = await form_or_problem(request, account=admin)
    if isinstance(fields, Response):
        return fields
    action, domain = fields.get("action", ""), fields.get("domain", "").strip().lower()
    tenant = await sso.locked_by_slug(db, slug[:63])
    if tenant is None or action not in ("approve", "revoke") or not domain:
        await db.rollback()
        return await _page(
            request, db, admin, status=404, error="That organisation or domain is not here."
        )
    approved = list(tenant.sso_approved_domains or ())
    if action == "approve" and domain not in approved:
        approved.append(domain)
    elif action == "revoke":
        approved = [kept for kept in approved if kept != domain]
    try:
        await sso.approve_domains(db, tenant, approved, actor=admin.username)
    except ApiError as exc:
        await db.rollback()
        await db.refresh(admin)
        log.info("organisations page: %s refused for %s: %s", action, slug, exc.message)
        return await _page(request, db, admin, status=exc.status, error=exc.message)
    done = "approved" if action == "approve" else "revoked"
    return redirect(f"{ORGANISATIONS}?{urlencode({'done': done, 'domain': domain})}")
