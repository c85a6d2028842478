"""The dashboards in the visitor's organisation's branding: the api asked with the
visitor's credential, the bar and style put once into the page Voila streams, escaped; the
product's own page when the visitor has no branding or the api does not answer."""

from __future__ import annotations

import httpx

from api.core.names import DASHBOARD_CREDENTIAL_HEADER
from hub.dashboard_branding import BrandedPage, brand_title, visitor_brand

BRAND = {
    "organisation": "acme",
    "name": "Acme <Lab>",
    "primary": "#0d9488",
    "accent": "red;}</style><script>alert(1)</script>",
    "logo_url": '/services/api/organisations/acme/logo?v=7"onerror="alert(1)',
    "stylesheet_url": "/services/api/organisations/acme/brand.css?v=7",
}
PAGE = [
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Neural</title>\n",
    "<link rel='stylesheet' href='x.css'>\n</head>\n",
    '<body class="jp-Notebook" data-base-url="/services/dashboards/">\n<div id="rendered">',
    "cells</div>\n</body>\n</html>",
]


async def test_the_api_is_asked_with_the_visitors_credential() -> None:
    asked: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json={"branding": BRAND})

    brand = await visitor_brand(
        "http://127.0.0.1:9/services/api", "signed-credential", transport=httpx.MockTransport(api)
    )
    assert brand is not None and brand["name"] == "Acme <Lab>"
    [request] = asked
    assert request.url.path == "/services/api/me/branding"
    assert request.headers[DASHBOARD_CREDENTIAL_HEADER] == "signed-credential"

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"message": "down"}})

    assert await visitor_brand("http://x/", "c", transport=httpx.MockTransport(down)) is None

    def refuses(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    assert await visitor_brand("http://x/", "c", transport=httpx.MockTransport(refuses)) is None

    def nothing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"branding": None})

    assert await visitor_brand("http://x/", "c", transport=httpx.MockTransport(nothing)) is None


def test_the_page_gets_the_bar_and_style_once_escaped() -> None:
    branded = BrandedPage(BRAND)
    html = "".join(branded(chunk) for chunk in PAGE + PAGE[2:])
    assert html.count('class="dz-dashboard-brand"') == 1 and html.count("<style>") == 1
    assert html.index("<style>") < html.index("</head>")
    # Right after the first <body …>; a second one (another chunk) is left alone.
    assert '/services/dashboards/"><header class="dz-dashboard-brand"' in html
    assert "<span>Acme &lt;Lab&gt;</span>" in html
    assert "background:#0d9488" in html
    # An accent that is not #rrggbb never reaches the page: the primary stands in.
    assert "<script>" not in html and "border-bottom:3px solid #0d9488" in html
    assert 'onerror="alert' not in html and "&quot;onerror=&quot;" in html
    assert brand_title(BRAND, "DATAZENtr") == "Acme &lt;Lab&gt;"


def test_without_branding_the_page_is_unchanged() -> None:
    plain = BrandedPage(None)
    assert "".join(plain(chunk) for chunk in PAGE) == "".join(PAGE)
    assert brand_title(None, "DATAZENtr") == "DATAZENtr"
