"""The account pages under ``/services/api/accounts/``: server-rendered HTML forms.

Every POST carries the browser's form token (``csrf``); the flows live in ``service`` and
their errors are shown on the page they came from. Mailed links open a page with a button
(GET never uses a link up: mail scanners open links too); the button's POST uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links, ratelimit, service
from api.accounts.csrf import CSRF_FIELD, FormToken, check_form_token
from api.accounts.errors import (
    AccountError,
    CsrfRefused,
    FormError,
    LinkProblem,
    MailUnavailable,
    RateLimited,
    SignInFailed,
    SignUpClosed,
)
from api.accounts.external.providers import sign_in_buttons
from api.accounts.mail import Mailer
from api.accounts.sessions import (
    ACCOUNTS_PREFIX,
    DEFAULT_NEXT,
    current_account,
    end_session,
    login_url,
    safe_next,
    start_session,
)
from api.accounts.templating import STATIC_DIR, render_template
from api.core.tenancy import person_scope
from api.deps import SessionDep, settings_of
from api.models.account import Account
from api.organisations import sso
from api.organisations.branding import Brand, brand_by_slug, brand_of_person

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts", include_in_schema=False)

MAX_FIELD_LENGTH = 1000
START_SERVER_URL = "/hub/spawn"
NOWHERE_IN_PARTICULAR = frozenset({DEFAULT_NEXT, "/hub/login", "/hub/home"})
# Tokens are in these pages' URLs: no referrer, no caching, no framing, only our own assets.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
# Every stylesheet and image shipped in static/ (each area of the pages may add its own).
STATIC_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
# Which page asks for a new link when one cannot be used.
NEW_LINK_PAGES = {
    "verify_email": ("verify/resend", "Send a new confirmation link"),
    "magic_link": ("sign-in", "Ask for a new sign-in link"),
    "reset_password": ("forgot", "Ask for a new reset link"),
}


def mailer_for(request: Request) -> Mailer:
    """The app's mailer (tests put one there), else one from the settings."""
    mailer = getattr(request.app.state, "mailer", None)
    return mailer if isinstance(mailer, Mailer) else Mailer(settings_of(request))


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    account: Account | None = None,
    **context: Any,
) -> HTMLResponse:
    settings = settings_of(request)
    token = FormToken(request, settings)
    # A member of an organisation with branding sees its name, logo and colours.
    brand: Brand | None = getattr(request.state, "brand", None)
    html = render_template(
        f"pages/{template}.html",
        product_name=brand.name if brand else settings.product_name,
        brand=brand,
        prefix=ACCOUNTS_PREFIX,
        csrf_field=CSRF_FIELD,
        csrf_token=token.value,
        account=account,
        error=context.pop("error", None),
        error_field=context.pop("error_field", None),
        values=context.pop("values", {}),
        outside_providers=sign_in_buttons(settings),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    token.apply(response)
    return response


async def read_form(request: Request) -> dict[str, str]:
    """The form's text fields (longer values cut), after its form token is checked."""
    async with request.form() as form:
        fields = {
            key: value[:MAX_FIELD_LENGTH]
            for key, value in form.multi_items()
            if isinstance(value, str)
        }
    check_form_token(request, settings_of(request), fields.get(CSRF_FIELD))
    return fields


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def problem_page(request: Request, exc: AccountError, **context: Any) -> HTMLResponse:
    """The page for an error that has no form to go back to."""
    if isinstance(exc, LinkProblem):
        new_page, new_label = NEW_LINK_PAGES.get(exc.purpose, ("sign-in", "Sign in"))
        return page(
            request,
            "link_problem",
            status=400,
            message=exc.message,
            reason=exc.reason,
            new_link_url=f"{ACCOUNTS_PREFIX}{new_page}",
            new_link_label=new_label,
        )
    titles = {
        CsrfRefused: "Please send the form again",
        MailUnavailable: "Mail could not be sent",
        SignUpClosed: "Sign-up is closed",
        RateLimited: "Please wait a little",
    }
    title = next((t for kind, t in titles.items() if isinstance(exc, kind)), "Something is wrong")
    return page(request, "message", status=exc.status, title=title, message=exc.message, **context)


async def form_or_problem(request: Request, **context: Any) -> dict[str, str] | Response:
    """The form's fields, or the page that asks to send it again (its form token refused);
    ``context`` goes to that page."""
    try:
        return await read_form(request)
    except CsrfRefused as exc:
        return problem_page(request, exc, **context)


FormHandler = Callable[[dict[str, str]], Awaitable[Response]]


async def handle_form(
    request: Request,
    template: str,
    handler: FormHandler,
    *,
    account: Account | None = None,
    keep: tuple[str, ...] = (),
    **context: Any,
) -> Response:
    """Read the form and run ``handler``; a form error shows the form again with the
    message next to the field (and the fields in ``keep`` filled in)."""
    fields = await form_or_problem(request)
    if isinstance(fields, Response):
        return fields
    try:
        return await handler(fields)
    except (FormError, RateLimited, SignInFailed) as exc:
        field = exc.field if isinstance(exc, FormError) else None
        return page(
            request,
            template,
            status=exc.status,
            account=account,
            error=exc.message,
            error_field=field,
            values={key: fields.get(key, "") for key in keep},
            **context,
        )
    except AccountError as exc:
        return problem_page(request, exc)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def count_mail_request(request: Request, db: AsyncSession) -> None:
    """One more mail asked for from this client; refused past the network's limit."""
    limit = ratelimit.mail_address_limit(client_address(request))
    await ratelimit.refuse_if_limited(
        db, limit, message="Many mails were asked for from your network recently."
    )
    ratelimit.record(db, limit)


def check_mail_page(request: Request, kind: str, email: str) -> HTMLResponse:
    """The one answer to every mail request, whether or not the address has an account."""
    return page(request, "check_mail", kind=kind, email=email)


async def account_or_sign_in(request: Request, db: AsyncSession, here: str) -> Account | Response:
    """The signed-in account (its address confirmed or not), or the sign-in page, which
    comes back to ``here``. Pages that need more check it next (``signed_in_account``)."""
    account = await current_account(request, db)
    if account is None:
        return redirect(login_url(here))
    await person_scope(db, account.username)
    request.state.brand = await brand_of_person(db, account.username)
    return account


def after_sign_in(account: Account, next_url: str | None) -> str:
    """Where a person goes once signed in: a new account completes its profile first."""
    if account.email is None:
        return f"{ACCOUNTS_PREFIX}email"
    if account.email_verified_at is None:
        return f"{ACCOUNTS_PREFIX}verify/pending"
    target = safe_next(next_url)
    if account.profile_completed_at is None:
        # The welcome page's own button starts a server; only somewhere else is carried on.
        query = f"?{urlencode({'next': target})}" if target != DEFAULT_NEXT else ""
        return f"{ACCOUNTS_PREFIX}profile{query}"
    return target


# Static ------------------------------------------------------------------------------------


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    path = STATIC_DIR / name
    media_type = STATIC_TYPES.get(path.suffix)
    if media_type is None or path.parent != STATIC_DIR or not path.is_file():
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("")
@router.get("/")
async def accounts_home(request: Request, db: SessionDep) -> Response:
    account = await current_account(request, db)
    return redirect(f"{ACCOUNTS_PREFIX}welcome" if account else f"{ACCOUNTS_PREFIX}sign-in")


# Sign up and verify ------------------------------------------------------------------------


@router.get("/sign-up")
async def sign_up_page(request: Request, next: str = "") -> Response:
    settings = settings_of(request)
    if not settings.open_signup:
        return problem_page(
            request,
            SignUpClosed("Sign-up is closed on this platform. Ask its operator for an invitation."),
        )
    return page(
        request,
        "sign_up",
        values={"next": safe_next(next) if next else ""},
        domains=sorted(settings.signup_email_domains),
    )


@router.post("/sign-up")
async def sign_up(request: Request, db: SessionDep) -> Response:
    settings = settings_of(request)

    async def run(fields: dict[str, str]) -> Response:
        await count_mail_request(request, db)
        await service.sign_up(
            db,
            settings,
            mailer_for(request),
            name=fields.get("name", ""),
            email=fields.get("email", ""),
            password=fields.get("password", ""),
            terms_accepted=fields.get("terms") == "yes",
            next_url=safe_next(fields["next"]) if fields.get("next") else "",
        )
        return check_mail_page(request, "sign_up", service.normal_email(fields["email"]))

    return await handle_form(
        request,
        "sign_up",
        run,
        keep=("name", "email", "next"),
        domains=sorted(settings.signup_email_domains),
    )


async def link_confirm_page(
    request: Request,
    db: SessionDep,
    purpose: str,
    token: str,
    *,
    action: str,
    title: str,
    lead: str,
    button: str,
) -> Response:
    """A mailed link's page: a button that uses the link (so a mail scanner opening it
    spends nothing), or the page that says what is wrong with the link. ``{email}`` in
    ``lead`` becomes the link's address."""
    try:
        row = await links.check_link(db, purpose, token)
    except LinkProblem as exc:
        return problem_page(request, exc)
    return page(
        request,
        "link_confirm",
        action=action,
        token=token,
        title=title,
        lead=lead.format(email=row.email),
        button=button,
    )


@router.get("/verify")
async def verify_page(request: Request, db: SessionDep, token: str = "") -> Response:
    return await link_confirm_page(
        request,
        db,
        "verify_email",
        token,
        action="verify",
        title="Confirm your e-mail address",
        lead="Confirm that {email} is your address.",
        button="Confirm my address",
    )


@router.post("/verify")
async def verify(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        try:
            account, next_url = await service.confirm_email(db, fields.get("token"))
        except FormError as exc:
            return problem_page(request, exc)
        response = redirect(after_sign_in(account, next_url or None))
        signed_in = await current_account(request, db)
        if signed_in is None or signed_in.id != account.id:
            await start_session(request, response, db, account, "verify_email")
        else:
            await db.commit()
        return response

    return await handle_form(request, "link_confirm", run)


@router.get("/verify/pending")
async def verify_pending(request: Request, db: SessionDep) -> Response:
    account = await account_or_sign_in(request, db, f"{ACCOUNTS_PREFIX}welcome")
    if not isinstance(account, Account):
        return account
    if account.email is None or account.email_verified_at is not None:
        return redirect(after_sign_in(account, None))
    return page(request, "verify_pending", account=account, email=account.email)


@router.get("/email")
async def email_page(request: Request, db: SessionDep) -> Response:
    account = await account_or_sign_in(request, db, f"{ACCOUNTS_PREFIX}email")
    if not isinstance(account, Account):
        return account
    return page(request, "email", account=account, values={"email": ""})


@router.post("/email")
async def change_email(request: Request, db: SessionDep) -> Response:
    account = await account_or_sign_in(request, db, f"{ACCOUNTS_PREFIX}email")
    if not isinstance(account, Account):
        return account
    signed_in = account

    async def run(fields: dict[str, str]) -> Response:
        email = fields.get("email", "")
        await count_mail_request(request, db)
        await service.request_email_change(
            db, settings_of(request), mailer_for(request), signed_in, email=email
        )
        return check_mail_page(request, "new_email", service.normal_email(email))

    return await handle_form(request, "email", run, account=account, keep=("email",))


@router.get("/verify/resend")
async def resend_page(request: Request) -> Response:
    return page(request, "resend")


@router.post("/verify/resend")
async def resend(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        email = fields.get("email", "")
        await count_mail_request(request, db)
        await service.resend_verification(
            db, settings_of(request), mailer_for(request), email=email
        )
        return check_mail_page(request, "verify_email", service.normal_email(email))

    return await handle_form(request, "resend", run, keep=("email",))


# Sign in and out ---------------------------------------------------------------------------


async def organisation_sign_in(request: Request, db: AsyncSession, slug: str) -> None:
    """An organisation's own sign-in page (``?organisation=<slug>``) shows its branding."""
    if slug:
        request.state.brand = await brand_by_slug(db, slug)


@router.get("/sign-in")
async def sign_in_page(
    request: Request, db: SessionDep, next: str = "", organisation: str = ""
) -> Response:
    account = await current_account(request, db)
    if account is not None:
        return redirect(after_sign_in(account, next))
    await organisation_sign_in(request, db, organisation)
    return page(request, "sign_in", values={"next": safe_next(next), "organisation": organisation})


@router.post("/sign-in")
async def sign_in(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        next_url = safe_next(fields.get("next"))
        await organisation_sign_in(request, db, fields.get("organisation", "")[:63])
        if fields.get("action") == "magic_link":
            email = fields.get("email", "")
            await count_mail_request(request, db)
            await service.request_magic_link(
                db, settings_of(request), mailer_for(request), email=email, next_url=next_url
            )
            return check_mail_page(request, "magic_link", service.normal_email(email))
        # An address at a domain with single sign-on goes to its organisation's provider.
        # (A page that leads on: the pages' CSP keeps a form's redirects on this site.)
        sso_start = await sso.sign_in_start(
            db, settings_of(request), fields.get("email", ""), next_url
        )
        if sso_start is not None:
            return page(request, "organisation_sso_continue", sso_start=sso_start)
        account = await service.sign_in_with_password(
            db,
            email=fields.get("email", ""),
            password=fields.get("password", ""),
            client_address=client_address(request),
        )
        response = redirect(after_sign_in(account, next_url))
        await start_session(request, response, db, account, "password")
        return response

    return await handle_form(request, "sign_in", run, keep=("email", "next", "organisation"))


@router.get("/magic")
async def magic_page(request: Request, db: SessionDep, token: str = "") -> Response:
    return await link_confirm_page(
        request,
        db,
        "magic_link",
        token,
        action="magic",
        title="Sign in",
        lead="Sign in as {email}.",
        button="Sign me in",
    )


@router.post("/magic")
async def magic(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        account, next_url = await service.use_magic_link(db, fields.get("token"))
        response = redirect(after_sign_in(account, next_url))
        await start_session(request, response, db, account, "magic_link")
        return response

    return await handle_form(request, "link_confirm", run)


@router.get("/sign-out")
async def sign_out_page(request: Request, db: SessionDep) -> Response:
    account = await current_account(request, db)
    if account is None:
        return page(request, "signed_out")
    return page(request, "sign_out", account=account)


@router.post("/sign-out")
async def sign_out(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        response = page(request, "signed_out")
        await end_session(request, response, db)
        return response

    return await handle_form(request, "sign_out", run)


# Forgotten password ------------------------------------------------------------------------


@router.get("/forgot")
async def forgot_page(request: Request) -> Response:
    return page(request, "forgot")


@router.post("/forgot")
async def forgot(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        email = fields.get("email", "")
        await count_mail_request(request, db)
        await service.request_password_reset(
            db, settings_of(request), mailer_for(request), email=email
        )
        return check_mail_page(request, "reset_password", service.normal_email(email))

    return await handle_form(request, "forgot", run, keep=("email",))


@router.get("/reset")
async def reset_page(request: Request, db: SessionDep, token: str = "") -> Response:
    try:
        row = await links.check_link(db, "reset_password", token)
    except LinkProblem as exc:
        return problem_page(request, exc)
    return page(request, "reset", values={"token": token}, email=row.email)


@router.post("/reset")
async def reset(request: Request, db: SessionDep) -> Response:
    async def run(fields: dict[str, str]) -> Response:
        account = await service.reset_password(
            db, token=fields.get("token", ""), password=fields.get("password", "")
        )
        response = redirect(after_sign_in(account, None))
        await start_session(request, response, db, account, "reset_password")
        return response

    return await handle_form(request, "reset", run, keep=("token",), email="")


# Profile and onboarding --------------------------------------------------------------------


async def signed_in_account(request: Request, db: AsyncSession, here: str) -> Account | Response:
    """The signed-in, verified account, or where to send the browser first (``here`` is
    where it comes back to after signing in)."""
    account = await account_or_sign_in(request, db, here)
    if not isinstance(account, Account):
        return account
    if account.email_verified_at is None:
        return redirect(f"{ACCOUNTS_PREFIX}verify/pending")
    return account


@router.get("/profile")
async def profile_page(request: Request, db: SessionDep, next: str = "") -> Response:
    account = await signed_in_account(request, db, f"{ACCOUNTS_PREFIX}profile")
    if not isinstance(account, Account):
        return account
    values = {
        "role": account.role if account.role in service.SELF_CHOSEN_ROLES else "developer",
        "institution": account.institution or "",
        "student_email": account.student_email or "",
        "next": safe_next(next) if next else "",
    }
    return page(
        request,
        "profile",
        account=account,
        values=values,
        academic_domains=sorted(settings_of(request).academic_email_domains),
    )


@router.post("/profile")
async def profile(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, f"{ACCOUNTS_PREFIX}profile")
    if not isinstance(account, Account):
        return account
    signed_in = account
    settings = settings_of(request)

    async def run(fields: dict[str, str]) -> Response:
        mailed = await service.complete_profile(
            db,
            settings,
            mailer_for(request),
            signed_in,
            role=fields.get("role", ""),
            institution=fields.get("institution", ""),
            student_email=fields.get("student_email", ""),
        )
        target = f"{ACCOUNTS_PREFIX}welcome"
        query = {"next": safe_next(fields["next"])} if fields.get("next") else {}
        if mailed:
            query["student_mail"] = "sent"
        return redirect(target + ("?" + urlencode(query) if query else ""))

    return await handle_form(
        request,
        "profile",
        run,
        account=account,
        keep=("role", "institution", "student_email", "next"),
        academic_domains=sorted(settings.academic_email_domains),
    )


@router.get("/welcome")
async def welcome(
    request: Request, db: SessionDep, next: str = "", student_mail: str = ""
) -> Response:
    account = await signed_in_account(request, db, f"{ACCOUNTS_PREFIX}welcome")
    if not isinstance(account, Account):
        return account
    if account.profile_completed_at is None:
        return redirect(f"{ACCOUNTS_PREFIX}profile")
    # Signing in for the hub (the identity provider sent them here): carry on there. Back
    # to the hub's own login or home is nowhere in particular: the page's button starts
    # the server instead.
    target = safe_next(next)
    continue_url = target if next and target not in NOWHERE_IN_PARTICULAR else None
    return page(
        request,
        "welcome",
        account=account,
        start_url=START_SERVER_URL,
        continue_url=continue_url,
        student_mail_sent=student_mail == "sent",
    )
