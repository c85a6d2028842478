"""The platform admins' accounts pages: find people, manage them, import a class.

Every page and every POST checks that the signed-in account is a platform admin
(``roles.is_platform_admin``) before anything else: anyone else gets a 403 page, a signed-out
browser the sign-in page. POSTs carry the form token; an action ends in a redirect to the
account's page with a notice (so reloading does not repeat it). The invitation page, where
an imported person takes up their account, is here too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.accounts import administration, bulk_import, directory, invitations, links
from api.accounts.csrf import CSRF_FIELD, check_form_token
from api.accounts.errors import AccountError, CsrfRefused, FormError, LinkProblem
from api.accounts.pages import (
    account_or_sign_in,
    after_sign_in,
    form_or_problem,
    handle_form,
    mailer_for,
    page,
    problem_page,
    redirect,
)
from api.accounts.roles import is_platform_admin
from api.accounts.sessions import ACCOUNTS_PREFIX, start_session
from api.core.tenancy import PLATFORM, set_scope
from api.deps import SessionDep, settings_of
from api.models import Plan
from api.models.account import ROLES, Account

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

ADMIN = f"{ACCOUNTS_PREFIX}admin"
IMPORT = f"{ADMIN}/import"
# The import form: two file-or-text fields and a few small ones, each well under this.
_MAX_IMPORT_REQUEST_BYTES = 3 * bulk_import.MAX_FILE_BYTES + 64 * 1024
NOTICES = {
    "disabled": "The account is disabled and signed out everywhere.",
    "enabled": "The account is enabled again.",
    "role": "The role is changed.",
    "plan": "The plan is changed.",
    "verification": "A new confirmation link is on its way to {email}.",
    "reset": "A password reset link is on its way to {email}. Only they can open it.",
    "invitation": "A new invitation is on its way to {email}.",
}


def format_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def admin_page(request: Request, template: str, admin: Account, **context: Any) -> Response:
    return page(
        request,
        template,
        account=admin,
        is_admin=True,
        admin_prefix=f"{ADMIN}/",
        when=format_time,
        role_labels=administration.ROLE_LABELS,
        **context,
    )


async def signed_in_admin(request: Request, db: AsyncSession, here: str) -> Account | Response:
    """The signed-in platform admin, or the answer for anyone else (``here`` is where a
    signed-out browser comes back to after signing in)."""
    account = await account_or_sign_in(request, db, here)
    if not isinstance(account, Account):
        return account
    if not is_platform_admin(account, settings_of(request)):
        log.info("account %s refused the admin page %s", account.username, request.url.path)
        return page(request, "admin_forbidden", status=403, account=account)
    await set_scope(db, PLATFORM)  # administration spans every organisation
    return account


def _account_path(account_id: uuid.UUID) -> str:
    return f"{ADMIN}/accounts/{account_id}"


# The accounts list -------------------------------------------------------------------------


@router.get("/admin")
async def accounts_list(
    request: Request,
    db: SessionDep,
    q: str = "",
    page_number: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    here = f"{ADMIN}?{urlencode({'q': q})}" if q else ADMIN
    admin = await signed_in_admin(request, db, here)
    if not isinstance(admin, Account):
        return admin
    number = int(page_number) if page_number.isdigit() and len(page_number) < 7 else 1
    found = await directory.search_accounts(db, q, number)

    def page_link(n: int) -> str:
        return f"{ADMIN}?{urlencode({'q': found.query, 'page': n} if found.query else {'page': n})}"

    return admin_page(
        request,
        "admin_accounts",
        admin,
        found=found,
        previous_url=page_link(found.page - 1) if found.page > 1 else None,
        next_url=page_link(found.page + 1) if found.page < found.pages else None,
    )


# One account -------------------------------------------------------------------------------


async def _target(db: AsyncSession, account_id: str) -> Account | None:
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        return None
    return await db.get(Account, key)


async def _account_page(
    request: Request,
    db: AsyncSession,
    admin: Account,
    target: Account,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    row = await directory.account_row(db, target.id)
    assert row is not None  # the account exists
    plans = list(await db.scalars(select(Plan).order_by(Plan.rank)))
    return admin_page(
        request,
        "admin_account",
        admin,
        status=status,
        row=row,
        target=target,
        roles=ROLES,
        plans=plans,
        invited=invitations.is_invited(target),
        is_self=target.id == admin.id,
        notice=notice,
        error=error,
        error_field=error_field,
    )


def _not_found(request: Request, admin: Account) -> Response:
    return admin_page(
        request,
        "admin_message",
        admin,
        status=404,
        title="No such account",
        message="This account does not exist (it may have been deleted).",
    )


@router.get("/admin/accounts/{account_id}")
async def account_page(
    request: Request, db: SessionDep, account_id: str, done: str = ""
) -> Response:
    admin = await signed_in_admin(request, db, f"{ADMIN}/accounts/{account_id}")
    if not isinstance(admin, Account):
        return admin
    target = await _target(db, account_id)
    if target is None:
        return _not_found(request, admin)
    notice = NOTICES.get(done, "").format(email=target.email or "") or None
    return await _account_page(request, db, admin, target, notice=notice)


ACTIONS = ("disable", "enable", "role", "plan", "verification", "reset", "invitation")
_DONE = {"disable": "disabled", "enable": "enabled"}


@router.post("/admin/accounts/{account_id}/{action}")
async def account_action(
    request: Request, db: SessionDep, account_id: str, action: str
) -> Response:
    admin = await signed_in_admin(request, db, f"{ADMIN}/accounts/{account_id}")
    if not isinstance(admin, Account):
        return admin
    target = await _target(db, account_id)
    if target is None or action not in ACTIONS:
        return _not_found(request, admin)
    fields = await form_or_problem(request, account=admin)
    if isinstance(fields, Response):
        return fields
    settings, mailer = settings_of(request), mailer_for(request)
    try:
        if action == "disable":
            await administration.disable_account(db, target, actor=admin)
        elif action == "enable":
            await administration.enable_account(db, target, actor=admin)
        elif action == "role":
            await administration.change_role(
                db, settings, target, fields.get("role", ""), actor=admin
            )
        elif action == "plan":
            await administration.change_plan(db, target, fields.get("plan", ""), actor=admin)
        elif action == "verification":
            await administration.resend_verification(db, settings, mailer, target, actor=admin)
        elif action == "reset":
            await administration.start_reset(db, settings, mailer, target, actor=admin)
        else:
            await administration.resend_invitation(db, settings, mailer, target, actor=admin)
    except AccountError as exc:
        await db.rollback()
        await db.refresh(admin)
        await db.refresh(target)
        field = exc.field if isinstance(exc, FormError) else None
        return await _account_page(
            request, db, admin, target, status=exc.status, error=exc.message, error_field=field
        )
    return redirect(f"{_account_path(target.id)}?{urlencode({'done': _DONE.get(action, action)})}")


# Import from CSV ---------------------------------------------------------------------------


@router.get("/admin/import")
async def import_page(request: Request, db: SessionDep) -> Response:
    admin = await signed_in_admin(request, db, IMPORT)
    if not isinstance(admin, Account):
        return admin
    return _import_form(request, admin)


def _import_form(
    request: Request, admin: Account, *, status: int = 200, error: str | None = None, csv: str = ""
) -> Response:
    return admin_page(
        request,
        "admin_import",
        admin,
        status=status,
        error=error,
        csv=csv,
        example=bulk_import.EXAMPLE,
        columns=bulk_import.COLUMNS,
        roles=ROLES,
        max_rows=bulk_import.MAX_ROWS,
        max_kb=bulk_import.MAX_FILE_BYTES // 1024,
    )


async def read_import_form(request: Request) -> tuple[dict[str, str], bytes | None]:
    """The form's small fields and the CSV (the uploaded file, else the pasted text).

    ``FormError`` for a form too large to read (the limits are the import's own)."""
    declared = request.headers.get("content-length", "")
    limit_message = (
        f"The form is too large: a file of at most {bulk_import.MAX_FILE_BYTES // 1024} KB "
        "can be imported at once. Split it into several files."
    )
    if declared.isdigit() and int(declared) > _MAX_IMPORT_REQUEST_BYTES:
        raise FormError("csv", limit_message)
    try:
        form = await request.form(
            max_files=1, max_fields=10, max_part_size=bulk_import.MAX_FILE_BYTES + 1024
        )
    except HTTPException:
        raise FormError("csv", limit_message) from None
    fields: dict[str, str] = {}
    upload: bytes | None = None
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "csv_file" and value.filename:
                upload = await value.read(bulk_import.MAX_FILE_BYTES + 1)
        else:
            fields[key] = value
    await form.close()
    check_form_token(request, settings_of(request), fields.get(CSRF_FIELD))
    if upload:
        return fields, upload
    text = fields.get("csv", "")
    return fields, text.encode() if text.strip() else None


@router.post("/admin/import")
async def import_accounts(request: Request, db: SessionDep) -> Response:
    admin = await signed_in_admin(request, db, IMPORT)
    if not isinstance(admin, Account):
        return admin
    try:
        fields, data = await read_import_form(request)
    except CsrfRefused as exc:
        return problem_page(request, exc, account=admin)
    except FormError as exc:
        return _import_form(request, admin, status=413, error=exc.message)
    if data is None:
        return _import_form(
            request, admin, status=422, error="Choose a CSV file or paste its rows, then check it."
        )
    text = data.decode("utf-8-sig", errors="replace")
    if fields.get("action") == "import":
        result = await bulk_import.run_import(
            db, settings_of(request), mailer_for(request), data, actor=admin
        )
        if result.imported:
            return admin_page(request, "admin_import_done", admin, result=result)
        await db.refresh(admin)  # the failed import was rolled back
        check = result.check
    else:
        check = await bulk_import.check_import(db, data)
    return admin_page(
        request,
        "admin_import_report",
        admin,
        status=200 if check.can_import else 422,
        check=check,
        csv=text,
        max_rows=bulk_import.MAX_ROWS,
    )


# The invitation, for the invited person ---------------------------------------------------


def _invitation_problem(request: Request, exc: LinkProblem) -> Response:
    return page(
        request,
        "link_problem",
        status=400,
        message=f"{exc.message} You can still get in: ask for a password reset with the "
        "address the invitation was sent to.",
        reason=exc.reason,
        new_link_url=f"{ACCOUNTS_PREFIX}forgot",
        new_link_label="Ask for a new link",
    )


@router.get("/invitation")
async def invitation_page(request: Request, db: SessionDep, token: str = "") -> Response:
    try:
        row = await links.check_link(db, invitations.PURPOSE, token)
    except LinkProblem as exc:
        return _invitation_problem(request, exc)
    account = await db.get(Account, row.account_id)
    return page(
        request,
        "invitation",
        values={"token": token},
        email=row.email,
        username=account.username if account else "",
    )


@router.post("/invitation")
async def accept_invitation(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        try:
            account = await invitations.accept_invitation(
                db,
                token=fields.get("token"),
                password=fields.get("password", ""),
                terms_accepted=fields.get("terms") == "yes",
            )
        except LinkProblem as exc:
            return _invitation_problem(request, exc)
        # A first sign-in: the profile, or (a role given by an admin) the welcome page.
        first_page = (
            f"{ACCOUNTS_PREFIX}welcome"
            if account.profile_completed_at is not None
            else after_sign_in(account, None)
        )
        response = redirect(first_page)
        await start_session(request, response, db, account, "invitation")
        return response

    return await handle_form(request, "invitation", run, keep=("token",), email="", username="")
