"""The organisation's own views under ``/services/api/accounts/organisation``: its library
(every member), usage per member and member defaults (its admins).

``library`` lists the patterns shared in the organisation and its projects (an admin sees
all of them, a member their own); ``usage`` shows each member's session minutes,
generations and assistant requests today and over 7 days; ``defaults`` sets the plan new
members get (and, on request, everyone now) and the images their servers may run. Each
handler reads in the person's scope (set by ``signed_in_account``): the database shows an
admin their members' ledgers and nobody another organisation's rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.accounts.pages import form_or_problem, page, redirect, signed_in_account
from api.deps import SessionDep
from api.errors import ApiError
from api.models import Account, Plan
from api.organisations import insights, member_defaults
from api.organisations.insights import Standing
from api.organisations.pages import HERE, forget_changes, refusal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts/organisation", include_in_schema=False)

LIBRARY = f"{HERE}/library"
USAGE = f"{HERE}/usage"
DEFAULTS = f"{HERE}/defaults"
KEEP = ("member_plan", "images")


def admins_only_page(
    request: Request, account: Account, standing: Standing, *, nowhere: str, only: str
) -> Response:
    """The page a person sees where only the organisation's admins may go (403, saying
    ``only``), or, in no organisation, the way to one (404, saying ``nowhere``)."""
    if standing.tenant is None:
        title, status = "No organisation", 404
        message = f"You are in no organisation, so {nowhere}."
    else:
        title, status = "Admins only", 403
        message = f"Only the admins of {standing.tenant.name} {only}; ask one of them."
    return page(
        request,
        "account_message",
        status=status,
        account=account,
        title=title,
        message=message,
        back_url=HERE,
        back_label="Your organisation",
    )


def _refusal(request: Request, account: Account, standing: Standing, doing: str) -> Response:
    return admins_only_page(
        request,
        account,
        standing,
        nowhere=f"there is no {doing} to show",
        only=f"can see its {doing}",
    )


@router.get("/library")
async def library(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, LIBRARY)
    if not isinstance(account, Account):
        return account
    standing = await insights.standing_of(db, account)
    if standing.tenant is None:
        return _refusal(request, account, standing, "library")
    tenant = standing.tenant
    return page(
        request,
        "organisation_library",
        account=account,
        tenant=tenant,
        here=HERE,
        is_org_admin=standing.is_admin,
        patterns=await insights.shared_patterns(db, tenant, account),
        projects=await insights.organisation_projects(
            db, tenant, account, everyone=standing.is_admin
        ),
    )


@router.get("/usage")
async def usage(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, USAGE)
    if not isinstance(account, Account):
        return account
    standing = await insights.standing_of(db, account)
    if standing.tenant is None or not standing.is_admin:
        return _refusal(request, account, standing, "usage per member")
    now = datetime.now(UTC)
    rows, total = await insights.usage_per_member(db, standing.tenant, now)
    return page(
        request,
        "organisation_usage",
        account=account,
        tenant=standing.tenant,
        here=HERE,
        rows=rows,
        total=total,
        today=now.date(),
        week_start=insights.Window.at(now).first_day,
    )


async def defaults_page(
    request: Request,
    db: SessionDep,
    account: Account,
    standing: Standing,
    *,
    status: int = 200,
    done: str = "",
    apply_now: bool = False,
    **context: Any,
) -> Response:
    tenant = standing.tenant
    assert tenant is not None
    ceiling = await db.get(Plan, tenant.plan_code) if tenant.plan_code else None
    return page(
        request,
        "organisation_defaults",
        status=status,
        account=account,
        tenant=tenant,
        here=HERE,
        plans=await member_defaults.offered_plans(db, tenant),
        ceiling=ceiling,
        done_message=done,
        apply_now=apply_now,
        **context,
    )


@router.get("/defaults")
async def defaults(request: Request, db: SessionDep, done: str = "", moved: int = 0) -> Response:
    account = await signed_in_account(request, db, DEFAULTS)
    if not isinstance(account, Account):
        return account
    standing = await insights.standing_of(db, account)
    if standing.tenant is None or not standing.is_admin:
        return _refusal(request, account, standing, "member defaults")
    message = ""
    if done == "saved":
        message = "The member defaults were saved."
        if moved:
            message += f" {moved} {'member was' if moved == 1 else 'members were'} moved."
    return await defaults_page(request, db, account, standing, done=message)


@router.post("/defaults")
async def change_defaults(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, DEFAULTS)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    try:
        _, moved = await member_defaults.update_defaults(
            db,
            account,
            member_plan=fields.get("member_plan", ""),
            apply_now=fields.get("apply_now") == "yes",
            images=fields.get("images", ""),
        )
    except ApiError as exc:
        await forget_changes(db, account)
        log.info("member defaults refused for %s: %s", account.username, exc.message)
        standing = await insights.standing_of(db, account)
        if standing.tenant is None or not standing.is_admin:
            return _refusal(request, account, standing, "member defaults")
        return await defaults_page(
            request,
            db,
            account,
            standing,
            **refusal(exc),
            values={key: fields.get(key, "") for key in KEEP},
            apply_now=fields.get("apply_now") == "yes",
        )
    return redirect(f"{DEFAULTS}?done=saved&moved={moved}")
