"""The dashboards in the visitor's organisation's branding: a top bar with its logo and
name in its colours, put into the page Voila renders.

The dashboards service asks the api for the visitor's branding with the credential it
minted for them (``GET …/me/branding``, as their kernel would), waiting a few seconds at
most: without an answer the page is the product's own. Only checked ``#rrggbb`` colours
and escaped text and URLs reach the page.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import httpx

from api.core.names import DASHBOARD_CREDENTIAL_HEADER
from hub.branding import Brand, brand_from

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


async def visitor_brand(
    api_url: str,
    credential: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    seconds: float = TIMEOUT_SECONDS,
) -> Brand | None:
    """The visitor's organisation's brand, or None (none, or the api did not answer)."""
    try:
        async with httpx.AsyncClient(timeout=seconds, transport=transport) as client:
            answer = await client.get(
                f"{api_url.rstrip('/')}/me/branding",
                headers={DASHBOARD_CREDENTIAL_HEADER: credential},
            )
        answer.raise_for_status()
        return brand_from(answer.json())
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("the visitor's branding could not be read from the api: %s", exc)
        return None


def _colour(brand: Brand, key: str, default: str) -> str:
    value = brand.get(key)
    return value if isinstance(value, str) and _COLOUR.match(value) else default


def brand_style(brand: Brand) -> str:
    primary = _colour(brand, "primary", "#2b4acb")
    accent = _colour(brand, "accent", primary)
    return (
        "<style>"
        ".dz-dashboard-brand{display:flex;align-items:center;gap:.6rem;padding:.5rem 1rem;"
        f"background:{primary};color:#fff;border-bottom:3px solid {accent};"
        "font:600 1.05rem/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}"
        ".dz-dashboard-brand img{height:28px;width:auto;max-width:10rem;background:#fff;"
        "border-radius:4px;padding:2px}"
        "</style>"
    )


def brand_bar(brand: Brand) -> str:
    name = html.escape(str(brand.get("name") or ""))
    logo = brand.get("logo_url")
    image = (
        f'<img src="{html.escape(logo)}" alt="">'
        if isinstance(logo, str) and logo.startswith("/")
        else ""
    )
    return f'<header class="dz-dashboard-brand" role="banner">{image}<span>{name}</span></header>'


class BrandedPage:
    """Puts the brand into a page written in chunks: its style before ``</head>``, its bar
    right after ``<body …>``, each once."""

    def __init__(self, brand: Brand | None) -> None:
        self.brand = brand
        self._styled = brand is None
        self._barred = brand is None

    def __call__(self, chunk: str) -> str:
        if self.brand is None or (self._styled and self._barred):
            return chunk
        if not self._styled and "</head>" in chunk:
            chunk = chunk.replace("</head>", brand_style(self.brand) + "</head>", 1)
            self._styled = True
        if not self._barred:
            body = _BODY.search(chunk)
            if body is not None:
                chunk = chunk[: body.end()] + brand_bar(self.brand) + chunk[body.end() :]
                self._barred = True
        return chunk


def brand_title(brand: Brand | None, default: str) -> str:
    name: Any = brand.get("name") if brand else None
    return html.escape(name if isinstance(name, str) and name else default)
