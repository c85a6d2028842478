"""An organisation's branding (white-label): its name, logo and two colours, shown to its
members on the account pages, the hub's pages, JupyterLab's top bar and the dashboards, and
on its own sign-in page.

A logo is a PNG, JPEG or WebP image (told by its first bytes, not by what the browser
claims) of at most 256 KB; SVG is refused, as it can carry script. Colours are ``#rrggbb``
(the database checks them too). Everything here is shown to anyone who opens the
organisation's sign-in page, so nothing secret belongs in it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.names import API_PREFIX
from api.errors import InvalidInput
from api.models import Account, Tenant, UserProfile
from api.organisations.membership import admin_of, record_tenant_event

log = logging.getLogger(__name__)

MAX_LOGO_BYTES = 256 * 1024
MAX_BRAND_NAME = 200
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
# The image types a logo may be, by the bytes each file starts with.
PNG, JPEG, WEBP = "image/png", "image/jpeg", "image/webp"
LOGO_TYPES = (PNG, JPEG, WEBP)


@dataclass(frozen=True)
class Brand:
    """What members of an organisation see instead of the product's own brand."""

    organisation: str
    name: str
    primary: str | None
    accent: str | None
    logo_url: str | None
    stylesheet_url: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class LogoTooLarge(InvalidInput):
    """A logo (or the form carrying it) over the limit."""

    status = 413
    code = "too_large"

    def __init__(self) -> None:
        message = (
            f"The logo is larger than {MAX_LOGO_BYTES // 1024} KB. Make it smaller (a few "
            "hundred pixels wide is plenty) and upload it again."
        )
        super().__init__(message, fields=[{"field": "logo", "message": message}])


# Input --------------------------------------------------------------------------------------


def logo_type(data: bytes) -> str:
    """The logo's image type from its first bytes; ``InvalidInput`` for anything else."""
    if len(data) > MAX_LOGO_BYTES:
        raise LogoTooLarge()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    raise InvalidInput.at(
        "logo",
        "The logo must be a PNG, JPEG or WebP image. SVG is not accepted (it can carry "
        "script); export it as PNG.",
    )


def check_colour(value: str, field: str, label: str) -> str | None:
    """``#rrggbb`` in lower case, or None when left empty."""
    text = value.strip().lower()
    if not text:
        return None
    if not text.startswith("#"):
        text = f"#{text}"
    if not _COLOUR.match(text):
        raise InvalidInput.at(field, f"Write the {label} as # and six hex digits, e.g. #1f6feb.")
    return text


def check_brand_name(value: str) -> str | None:
    name = " ".join(value.split())
    if len(name) > MAX_BRAND_NAME:
        raise InvalidInput.at("brand_name", f"Keep the name to {MAX_BRAND_NAME} characters.")
    return name or None


# Reading ------------------------------------------------------------------------------------


def logo_path(slug: str) -> str:
    return f"{API_PREFIX}organisations/{quote(slug)}/logo"


def stylesheet_path(slug: str) -> str:
    return f"{API_PREFIX}organisations/{quote(slug)}/brand.css"


def version_of(tenant: Tenant) -> str:
    """Changes whenever the organisation's row does: the assets' URLs carry it, so a new
    logo or colour shows at once although browsers keep the old one for a day."""
    return str(int(tenant.updated_at.timestamp())) if tenant.updated_at else "0"


def is_branded(tenant: Tenant) -> bool:
    """Whether its admins set anything; an organisation without branding shows the
    product's own."""
    return any(
        value is not None
        for value in (
            tenant.brand_name,
            tenant.brand_logo_type,
            tenant.brand_primary,
            tenant.brand_accent,
        )
    )


def brand_of(tenant: Tenant) -> Brand:
    version = version_of(tenant)
    return Brand(
        organisation=tenant.slug,
        name=tenant.brand_name or tenant.name,
        primary=tenant.brand_primary,
        accent=tenant.brand_accent,
        logo_url=f"{logo_path(tenant.slug)}?v={version}" if tenant.brand_logo_type else None,
        stylesheet_url=f"{stylesheet_path(tenant.slug)}?v={version}",
    )


async def brand_of_person(session: AsyncSession, name: str) -> Brand | None:
    """The branding of the organisation the hub user ``name`` belongs to, if it has any
    (organisations are shared rows; the profile is read in the caller's scope)."""
    tenant_id = await session.scalar(
        select(UserProfile.tenant_id).where(UserProfile.hub_name == name)
    )
    if tenant_id is None:
        return None
    tenant = await session.get(Tenant, tenant_id)
    return brand_of(tenant) if tenant is not None and is_branded(tenant) else None


async def brand_by_slug(session: AsyncSession, slug: str) -> Brand | None:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug.strip().lower()))
    return brand_of(tenant) if tenant is not None and is_branded(tenant) else None


async def logo_of(session: AsyncSession, slug: str) -> tuple[bytes, str] | None:
    """The logo's bytes and type, or None when the organisation has none."""
    row = (
        await session.execute(
            select(Tenant.brand_logo, Tenant.brand_logo_type).where(Tenant.slug == slug)
        )
    ).first()
    if row is None or row[0] is None or row[1] not in LOGO_TYPES:
        return None
    return bytes(row[0]), str(row[1])


def etag_of(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def stylesheet(brand: Brand) -> str:
    """The custom properties the platform's pages read (only checked ``#rrggbb`` values):
    ``--brand`` and ``--brand-dark`` are the account pages' own, ``--brand-primary`` and
    ``--brand-accent`` the organisation's for any page that wants them."""
    lines = [
        ".brand { display: inline-flex; align-items: center; gap: 0.5rem; }",
        ".brand-logo { height: 2rem; width: auto; max-width: 10rem; }",
        ":root {",
    ]
    if brand.primary:
        lines += [f"  --brand: {brand.primary};", f"  --brand-primary: {brand.primary};"]
    if brand.accent:
        lines += [f"  --brand-dark: {brand.accent};", f"  --brand-accent: {brand.accent};"]
    lines.append("}")
    if brand.accent:
        lines.append(f".site-header {{ border-bottom: 3px solid {brand.accent}; }}")
    return "\n".join(lines) + "\n"


# Changing -----------------------------------------------------------------------------------


async def branded_organisation(session: AsyncSession, account: Account) -> Tenant:
    """The organisation ``account`` runs (locked, its logo loaded); ``Forbidden`` for
    anyone but its admins."""
    tenant = await admin_of(session, account, "change its branding")
    await session.refresh(tenant, attribute_names=["brand_logo"])
    return tenant


async def update_branding(
    session: AsyncSession,
    account: Account,
    *,
    name: str,
    primary: str,
    accent: str,
    logo: bytes | None = None,
) -> Tenant:
    """Save the name and colours, and the logo when one is uploaded; the caller commits."""
    brand_name = check_brand_name(name)
    brand_primary = check_colour(primary, "brand_primary", "main colour")
    brand_accent = check_colour(accent, "brand_accent", "accent colour")
    kind = logo_type(logo) if logo else None
    tenant = await branded_organisation(session, account)
    tenant.brand_name = brand_name
    tenant.brand_primary = brand_primary
    tenant.brand_accent = brand_accent
    if logo and kind:
        tenant.brand_logo = logo
        tenant.brand_logo_type = kind
    record_tenant_event(
        session,
        tenant,
        "tenant.branding_changed",
        account.username,
        name=brand_name,
        primary=brand_primary,
        accent=brand_accent,
        logo=kind,
    )
    await session.flush()
    log.info("%s changed the branding of %s", account.username, tenant.slug)
    return tenant


async def remove_logo(session: AsyncSession, account: Account) -> Tenant:
    tenant = await branded_organisation(session, account)
    tenant.brand_logo = None
    tenant.brand_logo_type = None
    record_tenant_event(session, tenant, "tenant.logo_removed", account.username)
    await session.flush()
    return tenant
