"""A signed-in person's own account pages: password, API tokens, sessions, deletion.

All under ``/services/api/accounts/settings``; each needs a signed-in account with a
confirmed address (else the sign-in page, which comes back here). Every POST carries the
form token. The flows are in ``password_change``, ``api_tokens`` (with ``hub_client``)
and ``deletion``; this module only reads forms and shows pages.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import api_tokens, service
from api.accounts.deletion import delete_account, files_statement
from api.accounts.devices import describe_user_agent
from api.accounts.errors import FormError, RateLimited
from api.accounts.hub_client import (
    HubProblem,
    HubRefused,
    HubUnreachable,
    HubUserUnknown,
    hub_client_for,
)
from api.accounts.pages import (
    FormHandler,
    check_mail_page,
    client_address,
    count_mail_request,
    form_or_problem,
    handle_form,
    mailer_for,
    page,
    problem_page,
    redirect,
    signed_in_account,
)
from api.accounts.password_change import change_password
from api.accounts.reauthentication import check_current_password, signed_in_recently
from api.accounts.sessions import (
    ACCOUNTS_PREFIX,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    current_session,
    end_session,
    login_url,
    sign_out_everywhere,
)
from api.core.names import API_PREFIX
from api.deps import SessionDep, settings_of
from api.events import append_event
from api.models.account import Account, AccountSession

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

SETTINGS = f"{ACCOUNTS_PREFIX}settings"
ROLE_LABELS = {
    "student": "Student",
    "developer": "Developer",
    "org_admin": "Organisation admin",
    "platform_admin": "Platform admin",
}
# What a finished action says on the page it returns to (``?done=<key>``).
DONE = {
    "password_changed": "Your password was changed. Every other browser and device was signed out.",
    "password_set": "Your password was set. Every other browser and device was signed out.",
    "token_revoked": "The token was revoked: it no longer works anywhere.",
    "token_gone": "That token no longer exists (it may have been revoked or expired already).",
    "session_ended": "That session was signed out.",
    "others_ended": "Every other browser and device was signed out.",
}
# Pages an account without a password may ask a fresh sign-in link for.
SIGN_IN_AGAIN_FOR = {"password": "settings/password", "delete": "settings/delete"}


def moment(value: datetime | None, empty: str = "never") -> str:
    """A moment as the pages show it (UTC, to the minute)."""
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else empty


async def signed_in(
    request: Request, db: AsyncSession, here: str
) -> tuple[Account, AccountSession] | Response:
    """The signed-in, verified account and this browser's session, or where to go first."""
    account = await signed_in_account(request, db, here)
    if not isinstance(account, Account):
        return account
    session = await current_session(request, db)
    if session is None:  # signed out between the two reads
        return redirect(login_url(here))
    return account, session


async def signed_in_form(
    request: Request, db: AsyncSession, here: str
) -> tuple[Account, AccountSession, dict[str, str]] | Response:
    """For a POST: the signed-in account, this browser's session and the form (its token
    checked), or the page to show instead."""
    who = await signed_in(request, db, here)
    if isinstance(who, Response):
        return who
    fields = await form_or_problem(request)
    if isinstance(fields, Response):
        return fields
    account, session = who
    return account, session, fields


def own_page(
    request: Request,
    template: str,
    account: Account,
    *,
    done: str = "",
    status: int = 200,
    **context: Any,
) -> Response:
    return page(
        request,
        template,
        status=status,
        account=account,
        done_message=DONE.get(done),
        moment=moment,
        settings_url=SETTINGS,
        **context,
    )


async def own_form(
    request: Request,
    template: str,
    handler: FormHandler,
    account: Account,
    *,
    keep: tuple[str, ...] = (),
    **context: Any,
) -> Response:
    """``handle_form`` for an own-account page: a form error shows the page as ``own_page``
    does, without a finished action's message."""
    return await handle_form(
        request,
        template,
        handler,
        account=account,
        keep=keep,
        done_message=None,
        moment=moment,
        settings_url=SETTINGS,
        **context,
    )


def hub_problem_page(request: Request, account: Account, exc: HubProblem, retry: str) -> Response:
    """The page for a hub that did not answer or refused: what happened, and a way on."""
    unreachable = isinstance(exc, HubUnreachable)
    return own_page(
        request,
        "account_hub_problem",
        account,
        status=503 if unreachable else exc.status,
        title="The hub is not answering" if unreachable else "The hub refused this",
        message=exc.message,
        retry_url=retry,
    )


def _event(db: AsyncSession, account: Account, type: str, **payload: Any) -> None:
    append_event(
        db, stream=f"account:{account.id}", type=type, actor=account.username, payload=payload
    )


# Overview ----------------------------------------------------------------------------------


@router.get("/settings")
async def overview(request: Request, db: SessionDep, done: str = "") -> Response:
    who = await signed_in(request, db, SETTINGS)
    if isinstance(who, Response):
        return who
    account, _session = who
    return own_page(
        request,
        "account_settings",
        account,
        done=done,
        role_label=ROLE_LABELS.get(account.role, account.role),
        has_password=bool(account.password_hash),
    )


# A fresh sign-in (for accounts without a password) -----------------------------------------


@router.post("/settings/sign-in-again")
async def sign_in_again(request: Request, db: SessionDep) -> Response:
    """Mail a sign-in link that comes back to the password or deletion page."""
    posted = await signed_in_form(request, db, SETTINGS)
    if isinstance(posted, Response):
        return posted
    account, _session, fields = posted
    then = SIGN_IN_AGAIN_FOR.get(fields.get("then", ""), "settings")
    email = account.email or ""
    try:
        await count_mail_request(request, db)
        await service.request_magic_link(
            db,
            settings_of(request),
            mailer_for(request),
            email=email,
            next_url=f"{ACCOUNTS_PREFIX}{then}",
        )
    except (FormError, RateLimited) as exc:
        return problem_page(request, exc)
    return check_mail_page(request, "magic_link", email)


# Password ----------------------------------------------------------------------------------

PASSWORD_PAGE = f"{SETTINGS}/password"


def _password_context(account: Account, session: AccountSession) -> dict[str, Any]:
    has_password = bool(account.password_hash)
    return {
        "has_password": has_password,
        "fresh": has_password or signed_in_recently(session),
    }


@router.get("/settings/password")
async def password_page(request: Request, db: SessionDep) -> Response:
    who = await signed_in(request, db, PASSWORD_PAGE)
    if isinstance(who, Response):
        return who
    account, session = who
    return own_page(request, "account_password", account, **_password_context(account, session))


@router.post("/settings/password")
async def password(request: Request, db: SessionDep) -> Response:
    who = await signed_in(request, db, PASSWORD_PAGE)
    if isinstance(who, Response):
        return who
    account, session = who
    had_password = bool(account.password_hash)
    context = _password_context(account, session)

    async def run(fields: dict[str, str]) -> Response:
        await change_password(
            db,
            settings_of(request),
            mailer_for(request),
            account,
            session,
            current_password=fields.get("current_password", ""),
            new_password=fields.get("new_password", ""),
            new_password_again=fields.get("new_password_again", ""),
            client_address=client_address(request),
        )
        done = "password_changed" if had_password else "password_set"
        return redirect(f"{SETTINGS}?done={done}")

    return await own_form(request, "account_password", run, account, **context)


# API tokens --------------------------------------------------------------------------------

TOKENS_PAGE = f"{SETTINGS}/tokens"


def _describer(account: Account) -> Any:
    return lambda scopes: api_tokens.describe_scopes(scopes, account.username)


def _token_form_context(account: Account) -> dict[str, Any]:
    return {
        "scope_choices": api_tokens.SCOPE_CHOICES,
        "scope_field": api_tokens.scope_field,
        "describe_scopes": _describer(account),
        "expiry_choices": api_tokens.EXPIRY_CHOICES,
        "note_max": api_tokens.MAX_NOTE_LENGTH,
    }


def _default_token_values() -> dict[str, str]:
    values = {api_tokens.scope_field(key): "yes" for key in api_tokens.DEFAULT_SCOPES}
    return values | {"expires": api_tokens.DEFAULT_EXPIRY, "note": ""}


async def _tokens_page(
    request: Request,
    account: Account,
    *,
    done: str = "",
    status: int = 200,
    values: dict[str, str] | None = None,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    try:
        tokens = await hub_client_for(request).tokens(account.username)
    except HubUserUnknown:
        return own_page(
            request,
            "account_tokens",
            account,
            hub_user_unknown=True,
            tokens=[],
            status=status,
            **_token_form_context(account),
        )
    except HubProblem as exc:
        return hub_problem_page(request, account, exc, TOKENS_PAGE)
    return own_page(
        request,
        "account_tokens",
        account,
        done=done,
        status=status,
        hub_user_unknown=False,
        tokens=tokens,
        values=values or _default_token_values(),
        error=error,
        error_field=error_field,
        **_token_form_context(account),
    )


@router.get("/settings/tokens")
async def tokens_page(request: Request, db: SessionDep, done: str = "") -> Response:
    who = await signed_in(request, db, TOKENS_PAGE)
    if isinstance(who, Response):
        return who
    account, _session = who
    return await _tokens_page(request, account, done=done)


@router.post("/settings/tokens")
async def create_token(request: Request, db: SessionDep) -> Response:
    posted = await signed_in_form(request, db, TOKENS_PAGE)
    if isinstance(posted, Response):
        return posted
    account, _session, fields = posted
    kept = {
        key: fields.get(key, "")
        for key in (
            "note",
            "expires",
            *(api_tokens.scope_field(c.key) for c in api_tokens.SCOPE_CHOICES),
        )
    }
    try:
        wanted = api_tokens.read_token_request(fields)
        created = await hub_client_for(request).create_token(
            account.username,
            note=wanted.note,
            scopes=wanted.scopes,
            expires_in_seconds=wanted.expires_in_seconds,
        )
    except FormError as exc:
        return await _tokens_page(
            request,
            account,
            status=exc.status,
            values=kept,
            error=exc.message,
            error_field=exc.field,
        )
    except HubRefused as exc:
        field, message = api_tokens.refusal_message(exc)
        return await _tokens_page(
            request, account, status=400, values=kept, error=message, error_field=field
        )
    except HubUserUnknown:
        return await _tokens_page(request, account)
    except HubProblem as exc:
        return hub_problem_page(request, account, exc, TOKENS_PAGE)
    _event(
        db,
        account,
        "account.token_created",
        token_id=created.token.id,
        scopes=created.token.scopes,
        expires_at=created.token.expires_at.isoformat() if created.token.expires_at else None,
    )
    await db.commit()
    log.info("account %s created hub token %s", account.username, created.token.id)
    return own_page(
        request,
        "account_token_created",
        account,
        token=created.token,
        secret=created.secret,
        describe_scopes=_describer(account),
        hub_api_url=f"{settings_of(request).public_base_url}hub/api/user",
    )


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(request: Request, db: SessionDep, token_id: str) -> Response:
    posted = await signed_in_form(request, db, TOKENS_PAGE)
    if isinstance(posted, Response):
        return posted
    account, _session, _fields = posted
    if not api_tokens.TOKEN_ID.match(token_id):
        return redirect(f"{TOKENS_PAGE}?done=token_gone")
    try:
        revoked = await hub_client_for(request).revoke_token(account.username, token_id)
    except HubUserUnknown:
        revoked = False
    except HubProblem as exc:
        return hub_problem_page(request, account, exc, TOKENS_PAGE)
    if not revoked:
        return redirect(f"{TOKENS_PAGE}?done=token_gone")
    _event(db, account, "account.token_revoked", token_id=token_id)
    await db.commit()
    return redirect(f"{TOKENS_PAGE}?done=token_revoked")


# Sessions ----------------------------------------------------------------------------------

SESSIONS_PAGE = f"{SETTINGS}/sessions"


async def _live_sessions(db: AsyncSession, account: Account) -> list[AccountSession]:
    """The account's sessions that still sign a browser in, most recently seen first."""
    since = datetime.now(UTC) - timedelta(seconds=SESSION_MAX_AGE_SECONDS)
    rows = await db.scalars(
        select(AccountSession)
        .where(
            AccountSession.account_id == account.id,
            AccountSession.revoked_at.is_(None),
            AccountSession.created_at > since,
        )
        .order_by(AccountSession.last_seen_at.desc())
    )
    return list(rows.all())


METHOD_LABELS = {
    "password": "Password",
    "magic_link": "Sign-in link",
    "reset_password": "Password reset",
    "verify_email": "Address confirmation",
}


@router.get("/settings/sessions")
async def sessions_page(request: Request, db: SessionDep, done: str = "") -> Response:
    who = await signed_in(request, db, SESSIONS_PAGE)
    if isinstance(who, Response):
        return who
    account, this = who
    sessions = [
        {
            "id": row.id,
            "device": describe_user_agent(row.user_agent),
            "address": row.client_address or "unknown",
            "method": METHOD_LABELS.get(row.method, row.method.replace("_", " ").capitalize()),
            "signed_in": moment(row.created_at),
            "last_seen": moment(row.last_seen_at),
            "this_browser": row.id == this.id,
        }
        for row in await _live_sessions(db, account)
    ]
    return own_page(request, "account_sessions", account, done=done, sessions=sessions)


def _signed_out_page(request: Request) -> Response:
    response = page(request, "signed_out")
    response.delete_cookie(SESSION_COOKIE, path=API_PREFIX)
    return response


@router.post("/settings/sessions/{session_id}/sign-out")
async def end_one_session(request: Request, db: SessionDep, session_id: str) -> Response:
    posted = await signed_in_form(request, db, SESSIONS_PAGE)
    if isinstance(posted, Response):
        return posted
    account, this, _fields = posted
    try:
        wanted = uuid.UUID(session_id)
    except ValueError:
        wanted = None
    row = await db.get(AccountSession, wanted) if wanted else None
    if row is None or row.account_id != account.id or row.revoked_at is not None:
        # Someone else's session reads exactly like one that does not exist.
        return own_page(
            request,
            "account_message",
            account,
            status=404,
            title="No such session",
            message="This session does not exist or is already signed out.",
            back_url=SESSIONS_PAGE,
            back_label="Back to your sessions",
        )
    if row.id == this.id:
        response = page(request, "signed_out")
        await end_session(request, response, db)
        return response
    row.revoked_at = datetime.now(UTC)
    _event(db, account, "account.session_revoked", session_id=str(row.id))
    await db.commit()
    return redirect(f"{SESSIONS_PAGE}?done=session_ended")


@router.post("/settings/sessions/sign-out-others")
async def end_other_sessions(request: Request, db: SessionDep) -> Response:
    posted = await signed_in_form(request, db, SESSIONS_PAGE)
    if isinstance(posted, Response):
        return posted
    account, this, _fields = posted
    await sign_out_everywhere(db, account, keep=this)
    _event(db, account, "account.signed_out_elsewhere")
    await db.commit()
    return redirect(f"{SESSIONS_PAGE}?done=others_ended")


@router.post("/settings/sessions/sign-out-all")
async def end_all_sessions(request: Request, db: SessionDep) -> Response:
    posted = await signed_in_form(request, db, SESSIONS_PAGE)
    if isinstance(posted, Response):
        return posted
    account, _this, _fields = posted
    await sign_out_everywhere(db, account)
    _event(db, account, "account.signed_out_everywhere")
    await db.commit()
    return _signed_out_page(request)


# Deleting the account ----------------------------------------------------------------------

DELETE_PAGE = f"{SETTINGS}/delete"


def _delete_context(request: Request, account: Account, session: AccountSession) -> dict[str, Any]:
    # Confirmed as a password change is: the password, else a recent sign-in.
    files = files_statement(settings_of(request), account.username)
    return _password_context(account, session) | {"files": files}


@router.get("/settings/delete")
async def delete_page(request: Request, db: SessionDep) -> Response:
    who = await signed_in(request, db, DELETE_PAGE)
    if isinstance(who, Response):
        return who
    account, session = who
    return own_page(
        request, "account_delete", account, **_delete_context(request, account, session)
    )


@router.post("/settings/delete")
async def delete(request: Request, db: SessionDep) -> Response:
    who = await signed_in(request, db, DELETE_PAGE)
    if isinstance(who, Response):
        return who
    account, session = who
    context = _delete_context(request, account, session)

    async def run(fields: dict[str, str]) -> Response:
        typed = fields.get("confirm_username", "").strip()
        if typed != account.username:
            raise FormError(
                "confirm_username", f"Type your user name, {account.username}, to confirm."
            )
        if account.password_hash:
            await check_current_password(
                db,
                account,
                fields.get("password", ""),
                field="password",
                client_address=client_address(request),
            )
        elif not signed_in_recently(session):
            raise FormError("confirm_username", "Sign in again first (see above).")
        try:
            deleted = await delete_account(
                db, settings_of(request), mailer_for(request), hub_client_for(request), account
            )
        except HubProblem as exc:
            return hub_problem_page(request, account, exc, DELETE_PAGE)
        response = page(request, "account_deleted", username=deleted.username, email=deleted.email)
        response.delete_cookie(SESSION_COOKIE, path=API_PREFIX)
        return response

    return await own_form(
        request, "account_delete", run, account, keep=("confirm_username",), **context
    )
