"""The single sign-on page of an organisation, for its admins:
``/services/api/accounts/organisation/sso``.

Its form sets the issuer, the client id, the client secret (write-only: never shown back,
kept when left empty) and whether single sign-on is on; it shows the callback URL to
register at the provider, and which of the organisation's domains a platform admin has
approved for single sign-on (only those are sent to the provider). "Test connection"
checks the issuer typed in the form (its discovery document and signing keys) and says
what worked or what did not, saving nothing. Anyone but the organisation's admins gets
the organisation page with why not.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.pages import form_or_problem, page, redirect, signed_in_account
from api.deps import SessionDep, settings_of
from api.errors import ApiError
from api.models import Account
from api.organisations import membership, sso
from api.organisations.pages import HERE, forget_changes, organisation_page, refusal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts/organisation", include_in_schema=False)

PAGE = f"{HERE}/sso"
DOING = "set up its single sign-on"
DONE = {
    "saved": "The single sign-on settings were saved.",
    "relink": "The single sign-on settings were saved. The sign-in service changed, so its "
    "links to members' accounts were removed: each member confirms the link again on their "
    "next sign-in through it.",
}
KEEP = ("issuer", "client_id")


async def _sso_page(
    request: Request,
    db: AsyncSession,
    account: Account,
    *,
    done: str = "",
    status: int = 200,
    **context: Any,
) -> Response:
    settings = settings_of(request)
    try:
        tenant = await membership.admin_of(db, account, DOING)
    except ApiError as exc:
        await forget_changes(db, account)
        return await organisation_page(request, db, account, **refusal(exc))
    values = context.pop("values", None) or {
        "issuer": tenant.sso_issuer or "",
        "client_id": tenant.sso_client_id or "",
    }
    enabled = context.pop("enabled", tenant.sso_enabled)
    context.setdefault("check", None)
    response = page(
        request,
        "organisation_sso",
        status=status,
        account=account,
        tenant=tenant,
        here=HERE,
        action=PAGE,
        done_message=DONE.get(done),
        callback_url=sso.callback_url_of(settings, tenant),
        secret_kept=sso.decrypt_secret(settings, tenant.sso_client_secret_encrypted) is not None,
        secret_unreadable=bool(tenant.sso_client_secret_encrypted)
        and sso.decrypt_secret(settings, tenant.sso_client_secret_encrypted) is None,
        values=values,
        enabled=enabled,
        approved_domains=sso.routed_domains(tenant),
        waiting_domains=sso.waiting_domains(tenant),
        **context,
    )
    # Nothing is changed by showing the page: let go of the organisation's row.
    await db.rollback()
    return response


@router.get("/sso")
async def sso_page(request: Request, db: SessionDep, done: str = "") -> Response:
    account = await signed_in_account(request, db, PAGE)
    if not isinstance(account, Account):
        return account
    return await _sso_page(request, db, account, done=done)


@router.post("/sso")
async def change_sso(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, PAGE)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    kept = {key: fields.get(key, "") for key in KEEP}
    enabled = fields.get("enabled") == "yes"
    if fields.get("action") == "test":
        return await _test(request, db, account, fields, kept, enabled)
    try:
        change = await sso.update_settings(
            db,
            settings_of(request),
            account,
            issuer=fields.get("issuer", ""),
            client_id=fields.get("client_id", ""),
            client_secret=fields.get("client_secret", ""),
            enabled=enabled,
        )
    except ApiError as exc:
        await forget_changes(db, account)
        log.info("single sign-on page: refused for %s: %s", account.username, exc.message)
        if exc.status == 403:
            return await organisation_page(
                request, db, account, status=exc.status, error=exc.message
            )
        return await _sso_page(
            request,
            db,
            account,
            **refusal(exc),
            values=kept,
            enabled=enabled,
        )
    return redirect(f"{PAGE}?done={'relink' if change.unlinked else 'saved'}")


async def _test(
    request: Request,
    db: AsyncSession,
    account: Account,
    fields: dict[str, str],
    kept: dict[str, str],
    enabled: bool,
) -> Response:
    try:
        await membership.admin_of(db, account, DOING)
        # No row stays locked while the issuer is asked.
        await forget_changes(db, account)
        check = await sso.test_connection(settings_of(request), fields.get("issuer", ""))
    except ApiError as exc:
        await forget_changes(db, account)
        if exc.status == 403:
            return await organisation_page(
                request, db, account, status=exc.status, error=exc.message
            )
        return await _sso_page(
            request,
            db,
            account,
            **refusal(exc),
            values=kept,
            enabled=enabled,
        )
    log.info(
        "single sign-on page: %s tested %s: %s",
        account.username,
        fields.get("issuer", ""),
        "works" if check.ok else check.problem,
    )
    return await _sso_page(request, db, account, check=check, values=kept, enabled=enabled)
