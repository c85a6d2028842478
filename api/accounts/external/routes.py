"""The pages that start and finish a sign-in with an outside identity provider, confirm a
mailed link to one, and list a person's sign-in methods.

A sign-in starts with a plain link (GET ``/accounts/external/<name>/start``), never a form:
the pages' CSP allows forms to post only to this site, and browsers apply that to the
redirect that follows a POST. Linking from the sign-in methods page carries the page's form
token in that link instead (``link=``), so another site cannot start a link for someone.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links
from api.accounts.csrf import check_form_token
from api.accounts.errors import AccountError, CsrfRefused, LinkProblem
from api.accounts.external import github, linking, oidc
from api.accounts.external.flow_state import FlowState, forget, recall, remember
from api.accounts.external.identity import OutsideIdentity, OutsideSignInFailed
from api.accounts.external.providers import OutsideProvider, callback_url, configured_providers
from api.accounts.pages import (
    account_or_sign_in,
    after_sign_in,
    form_or_problem,
    handle_form,
    link_confirm_page,
    mailer_for,
    page,
    problem_page,
    redirect,
)
from api.accounts.service import _event
from api.accounts.sessions import ACCOUNTS_PREFIX, current_account, safe_next, start_session
from api.core.config import Settings
from api.deps import SessionDep, settings_of
from api.models.account import Account
from api.organisations import sso

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

METHODS_PATH = f"{ACCOUNTS_PREFIX}settings/sign-in-methods"
PROBLEM_TITLES = {
    "denied": "Sign-in was cancelled",
    "state": "Please start again",
    "unavailable": "The provider did not answer",
    "refused": "Sign-in was refused",
    "taken": "Already linked to another account",
}


async def _provider(db: AsyncSession, settings: Settings, name: str) -> OutsideProvider | None:
    """The configured provider ``name``, else the organisation's own (``org-<slug>``)."""
    return configured_providers(settings).get(name) or await sso.provider_named(db, settings, name)


def _start_url(provider: str, next_url: str) -> str:
    return f"{ACCOUNTS_PREFIX}external/{provider}/start?{urlencode({'next': next_url})}"


def _problem(
    request: Request,
    exc: AccountError,
    *,
    provider: OutsideProvider | None,
    next_url: str,
    linking_account: bool = False,
) -> Response:
    reason = exc.reason if isinstance(exc, OutsideSignInFailed) else exc.code
    if linking_account and provider is not None:
        retry_url = METHODS_PATH
    elif provider is not None:
        retry_url = _start_url(provider.name, next_url)
    else:
        retry_url = f"{ACCOUNTS_PREFIX}sign-in"
    response = page(
        request,
        "external_problem",
        status=exc.status,
        title=PROBLEM_TITLES.get(reason, "Sign-in did not work"),
        message=exc.message,
        provider=provider.display_name if provider else None,
        retry_url=retry_url,
        sign_in_url=f"{ACCOUNTS_PREFIX}sign-in?{urlencode({'next': next_url})}",
    )
    forget(response)
    return response


async def _record_failure(db: AsyncSession, provider: str, exc: AccountError) -> None:
    await db.rollback()
    reason = exc.reason if isinstance(exc, OutsideSignInFailed) else exc.code
    _event(db, None, "account.external_sign_in_failed", provider=provider, reason=reason)
    await db.commit()


# Start and finish --------------------------------------------------------------------------


@router.get("/external/{name}/start")
async def start(
    request: Request, db: SessionDep, name: str, next: str = "", link: str = ""
) -> Response:
    settings = settings_of(request)
    next_url = safe_next(next)
    provider = await _provider(db, settings, name)
    if provider is None:
        return _unknown_provider(request, next_url)
    link_account = ""
    if link:
        account = await account_or_sign_in(request, db, METHODS_PATH)
        if not isinstance(account, Account):
            return account
        try:
            check_form_token(request, settings, link)
        except CsrfRefused as exc:
            return problem_page(request, exc)
        link_account = str(account.id)
    flow = FlowState.new(provider.name, next_url, link_account)
    redirect_uri = callback_url(settings, provider)
    try:
        if provider.kind == "github":
            url = github.authorize_url(provider, flow, redirect_uri)
        else:
            url = await oidc.authorize_url(provider, flow, redirect_uri)
    except OutsideSignInFailed as exc:
        return _problem(request, exc, provider=provider, next_url=next_url)
    response = RedirectResponse(
        url,
        status_code=303,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    remember(request, response, settings, flow)
    return response


def _unknown_provider(request: Request, next_url: str) -> Response:
    exc = OutsideSignInFailed(
        "unknown_provider", "This platform does not offer sign-in with that provider."
    )
    return _problem(request, exc, provider=None, next_url=next_url)


@router.get("/external/{name}/callback")
async def callback(request: Request, db: SessionDep, name: str) -> Response:
    settings = settings_of(request)
    provider = await _provider(db, settings, name)
    if provider is None:
        return _unknown_provider(request, safe_next(None))
    query = request.query_params
    next_url = safe_next(None)
    linking_account = False
    try:
        try:
            flow = recall(
                request,
                settings,
                provider=provider.name,
                display_name=provider.display_name,
                state=query.get("state", ""),
            )
        except OutsideSignInFailed:
            # Some providers leave the state out of a refusal; a refusal changes nothing.
            if query.get("error"):
                raise _provider_error(provider, query.get("error", "")) from None
            raise
        next_url, linking_account = flow.next_url, bool(flow.link_account)
        if query.get("error"):
            raise _provider_error(provider, query.get("error", ""))
        code = query.get("code", "")
        if not code or len(code) > 2000:
            raise OutsideSignInFailed(
                "refused", f"{provider.display_name} sent no sign-in code. Try again."
            )
        redirect_uri = callback_url(settings, provider)
        identity = await (github.identity if provider.kind == "github" else oidc.identity)(
            provider, code=code, flow=flow, redirect_uri=redirect_uri
        )
        if flow.link_account:
            response = await _link_signed_in(request, db, identity, flow)
        else:
            response = await _sign_in(request, db, provider, identity, flow)
    except AccountError as exc:
        log.info("sign-in with %s failed: %s", provider.name, exc.message)
        await _record_failure(db, provider.name, exc)
        return _problem(
            request, exc, provider=provider, next_url=next_url, linking_account=linking_account
        )
    forget(response)
    return response


def _provider_error(provider: OutsideProvider, error: str) -> OutsideSignInFailed:
    if error == "access_denied":
        return OutsideSignInFailed(
            "denied",
            f"{provider.display_name} did not sign you in: the request was declined there. "
            "Nothing was changed here.",
        )
    return OutsideSignInFailed(
        "refused",
        f"{provider.display_name} answered with an error ({error[:60]}). Try again; if it "
        "keeps failing, tell the platform's operator.",
    )


async def _sign_in(
    request: Request,
    db: AsyncSession,
    provider: OutsideProvider,
    identity: OutsideIdentity,
    flow: FlowState,
) -> Response:
    if provider.organisation:
        outcome = await sso.sign_in(
            db,
            settings_of(request),
            mailer_for(request),
            provider,
            identity,
            next_url=flow.next_url,
        )
    else:
        outcome = await linking.sign_in_with(
            db,
            settings_of(request),
            mailer_for(request),
            identity,
            display_name=provider.display_name,
            next_url=flow.next_url,
        )
    if outcome.kind == "signed_in":
        assert outcome.account is not None
        response: Response = redirect(after_sign_in(outcome.account, flow.next_url))
        await start_session(request, response, db, outcome.account, provider.name)
        return response
    return page(
        request,
        "external_check_mail",
        kind="link" if outcome.kind == "link_mailed" else "verify",
        email=outcome.email,
        provider=provider.display_name,
        minutes=linking.LINK_MINUTES,
    )


async def _link_signed_in(
    request: Request, db: AsyncSession, identity: OutsideIdentity, flow: FlowState
) -> Response:
    account = await current_account(request, db)
    if account is None or str(account.id) != flow.link_account:
        raise OutsideSignInFailed(
            "state",
            "You are no longer signed in as the person who asked to link this account. Sign "
            "in and link it again from your sign-in methods.",
        )
    await linking.link_to(db, account, identity)
    return redirect(f"{METHODS_PATH}?{urlencode({'linked': identity.provider})}")


# The mailed confirmation -------------------------------------------------------------------


@router.get("/link")
async def link_page(request: Request, db: SessionDep, token: str = "") -> Response:
    try:
        row = await links.check_link(db, linking.LINK_PURPOSE, token)
    except LinkProblem as exc:
        return problem_page(request, exc)
    name = str(row.payload.get("provider", ""))
    provider = await _provider(db, settings_of(request), name)
    shown = provider.display_name if provider else name
    label = str(row.payload.get("label") or "")
    lead = (
        f"Link {_literal(shown)} ({_literal(label)}) to your account {{email}}, and sign in "
        "with it from now on."
    )
    return await link_confirm_page(
        request,
        db,
        linking.LINK_PURPOSE,
        token,
        action="link",
        title=f"Link {shown} to your account",
        lead=lead,
        button=f"Link {shown} and sign in",
    )


def _literal(text: str) -> str:
    """``text`` inside a format string (link_confirm_page fills in ``{email}``)."""
    return text.replace("{", "{{").replace("}", "}}")


@router.post("/link")
async def link(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        account, identity, next_url = await linking.confirm_link(db, fields.get("token"))
        response = redirect(after_sign_in(account, next_url))
        await start_session(request, response, db, account, identity.provider)
        return response

    return await handle_form(request, "link_confirm", run)


# Sign-in methods -----------------------------------------------------------------------------


async def _methods_page(
    request: Request,
    db: AsyncSession,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    account = await account_or_sign_in(request, db, METHODS_PATH)
    if not isinstance(account, Account):
        return account
    providers = configured_providers(settings_of(request))
    identities = await linking.identities_of(db, account)
    rows = [
        {
            "id": str(row.id),
            "provider": providers[row.provider].display_name
            if row.provider in providers
            else row.provider,
            "email": row.email,
            "last_used_at": row.last_used_at,
            "can_unlink": linking.other_ways_in(account, identities, row),
        }
        for row in identities
    ]
    response = page(
        request,
        "external_sign_in_methods",
        status=status,
        account=account,
        identities=rows,
        providers=list(providers.values()),
        # An account may have several identities at one provider (say, two GitHub accounts).
        linked_providers={row.provider for row in identities},
        has_password=bool(account.password_hash),
        email_verified=account.email_verified_at is not None,
        error=error,
        notice=notice,
    )
    return response


@router.get("/settings/sign-in-methods")
async def methods(
    request: Request, db: SessionDep, linked: str = "", unlinked: str = ""
) -> Response:
    providers = configured_providers(settings_of(request))
    notice = None
    for name, verb in ((linked, "linked to"), (unlinked, "unlinked from")):
        if name:
            shown = providers[name].display_name if name in providers else name[:64]
            notice = f"{shown} is {verb} your account."
    return await _methods_page(request, db, notice=notice)


@router.post("/settings/sign-in-methods/unlink")
async def unlink(request: Request, db: SessionDep) -> Response:
    account = await account_or_sign_in(request, db, METHODS_PATH)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request)
    if isinstance(fields, Response):
        return fields
    try:
        row = await linking.unlink(db, account, fields.get("identity", ""))
    except OutsideSignInFailed as exc:
        return await _methods_page(request, db, status=409, error=exc.message)
    return redirect(f"{METHODS_PATH}?{urlencode({'unlinked': row.provider})}")
