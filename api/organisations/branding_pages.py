"""An organisation's branding: its admins' page, and what every page that shows it reads.

``/services/api/accounts/organisation/branding`` is the admins' page (name, logo upload,
colours, remove the logo, a preview); anyone else gets the organisation page with the
reason, as the other organisation pages answer. Public, for the organisation's sign-in
page and its members' pages: ``/services/api/organisations/{slug}/logo`` (404 without
one) and ``…/{slug}/brand.css``. ``/services/api/me/branding`` is the signed-in person's
branding as JSON (JupyterLab and the dashboards ask it); the hub asks
``/services/api/internal/branding/{name}`` with its quota service's token.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from api.accounts.csrf import CSRF_FIELD, check_form_token
from api.accounts.errors import CsrfRefused
from api.accounts.pages import page, problem_page, redirect, signed_in_account
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.deps import CurrentUser, QuotaService, SessionDep, settings_of
from api.errors import ApiError, NotFound
from api.models import Account
from api.organisations import branding
from api.organisations.pages import forget_changes, organisation_page, refusal

log = logging.getLogger(__name__)

pages = APIRouter(prefix="/accounts/organisation", include_in_schema=False)
api_router = APIRouter(tags=["organisations"])

HERE = f"{ACCOUNTS_PREFIX}organisation/branding"
DONE = {
    "saved": "The branding was saved. Your members see it on their next page.",
    "logo_removed": "The logo was removed.",
}
# A form with a logo of the largest size, and room for the other fields.
MAX_FORM_BYTES = branding.MAX_LOGO_BYTES + 64 * 1024
ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


async def read_branding_form(request: Request) -> tuple[dict[str, str], bytes | None]:
    """The form's fields and the uploaded logo (None when no file was chosen), its form
    token checked; ``LogoTooLarge`` for a form too large to read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise branding.LogoTooLarge()
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
    except HTTPException:
        raise branding.LogoTooLarge() from None
    fields: dict[str, str] = {}
    logo: bytes | None = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "logo" and value.filename:
                    logo = await value.read(branding.MAX_LOGO_BYTES + 1)
            else:
                fields[key] = value[:1000]
    finally:
        await form.close()
    check_form_token(request, settings_of(request), fields.get(CSRF_FIELD))
    return fields, logo or None


async def branding_page(
    request: Request,
    db: SessionDep,
    account: Account,
    *,
    done: str = "",
    status: int = 200,
    **context: object,
) -> Response:
    """The admins' page; anyone else sees the organisation page with the reason."""
    try:
        tenant = await branding.branded_organisation(db, account)
    except ApiError as exc:
        await forget_changes(db, account)
        return await organisation_page(request, db, account, **refusal(exc))
    brand = branding.brand_of(tenant)
    logo = tenant.brand_logo
    await db.commit()  # the lock on the organisation is not kept while the page is read
    return page(
        request,
        "organisation_branding",
        status=status,
        account=account,
        tenant=tenant,
        saved=brand,
        logo_size_kb=(len(logo) + 1023) // 1024 if logo else 0,
        max_logo_kb=branding.MAX_LOGO_BYTES // 1024,
        sign_in_url=f"{ACCOUNTS_PREFIX}sign-in?organisation={tenant.slug}",
        done_message=DONE.get(done),
        here=HERE,
        platform_name=settings_of(request).product_name,
        organisation_url=f"{ACCOUNTS_PREFIX}organisation",
        **context,
    )


@pages.get("/branding")
async def branding_form(request: Request, db: SessionDep, done: str = "") -> Response:
    account = await signed_in_account(request, db, HERE)
    if not isinstance(account, Account):
        return account
    return await branding_page(request, db, account, done=done)


@pages.post("/branding")
async def save_branding(request: Request, db: SessionDep) -> Response:
    account = await signed_in_account(request, db, HERE)
    if not isinstance(account, Account):
        return account
    fields: dict[str, str] = {}
    try:
        fields, logo = await read_branding_form(request)
        if fields.get("action") == "remove_logo":
            await branding.remove_logo(db, account)
            done = "logo_removed"
        else:
            await branding.update_branding(
                db,
                account,
                name=fields.get("brand_name", ""),
                primary=fields.get("brand_primary", ""),
                accent=fields.get("brand_accent", ""),
                logo=logo,
            )
            done = "saved"
        await db.commit()
    except CsrfRefused as exc:
        return problem_page(request, exc, account=account)
    except ApiError as exc:
        await forget_changes(db, account)
        log.info("branding page: refused for %s: %s", account.username, exc.message)
        return await branding_page(
            request,
            db,
            account,
            **refusal(exc),
            values={
                key: fields.get(key, "") for key in ("brand_name", "brand_primary", "brand_accent")
            },
        )
    return redirect(f"{HERE}?done={done}")


# What the branded pages read ----------------------------------------------------------------


def _not_modified(request: Request, etag: str) -> bool:
    return etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}


@api_router.get(
    "/organisations/{slug}/logo",
    summary="An organisation's logo (public: its sign-in page shows it)",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
async def organisation_logo(request: Request, db: SessionDep, slug: str) -> Response:
    found = await branding.logo_of(db, slug)
    if found is None:
        raise NotFound("This organisation has no logo.")
    data, media_type = found
    etag = branding.etag_of(data)
    headers = {**ASSET_HEADERS, "ETag": etag, "Content-Security-Policy": "default-src 'none'"}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


@api_router.get(
    "/organisations/{slug}/brand.css",
    summary="An organisation's colours as CSS custom properties (public)",
    response_class=Response,
)
async def organisation_stylesheet(request: Request, db: SessionDep, slug: str) -> Response:
    brand = await branding.brand_by_slug(db, slug)
    if brand is None:
        raise NotFound("That organisation does not exist or has no branding.")
    css = branding.stylesheet(brand)
    etag = branding.etag_of(css.encode())
    headers = {**ASSET_HEADERS, "ETag": etag}
    if _not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(css, media_type="text/css", headers=headers)


@api_router.get("/me/branding", summary="My organisation's branding (name, colours, logo)")
async def my_branding(user: CurrentUser, db: SessionDep) -> dict[str, object]:
    """``{"branding": null}`` for a person in no organisation, or in one without branding:
    the product's own brand."""
    brand = await branding.brand_of_person(db, user.name)
    return {"branding": brand.as_json() if brand else None}


@api_router.get("/internal/branding/{name}", include_in_schema=False)
async def branding_for_hub(name: str, service: QuotaService, db: SessionDep) -> dict[str, object]:
    """The hub's pages show a member's organisation's branding; the hub asks for it here."""
    brand = await branding.brand_of_person(db, name)
    return {"branding": brand.as_json() if brand else None}


# The app includes both: the admins' page and what the branded pages read.
router = APIRouter()
router.include_router(pages)
router.include_router(api_router)
