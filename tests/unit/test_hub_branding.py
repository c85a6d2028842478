"""The hub's pages in a member's organisation's branding: fetched from the api in the
background (the event loop never waits on it), kept for a while, the product's own brand
when the api is away, and shown escaped in the hub's page template."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader

from hub.branding import MemberBrands, PendingBrand
from hub.config import TEMPLATES_DIR

BRAND = {
    "organisation": "acme",
    "name": "Acme <Lab>",
    "primary": "#0d9488",
    "accent": "#f59e0b",
    "logo_url": "/services/api/organisations/acme/logo?v=7",
    "stylesheet_url": "/services/api/organisations/acme/brand.css?v=7",
    "secret": "never shown",
}


class FakeApi:
    """The api's internal branding endpoint: Ada is in Acme, anyone else in none."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.asked.append((request.url.path, request.headers.get("authorization")))
        if self.down:
            return httpx.Response(503, json={"error": {"message": "down"}})
        name = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json={"branding": BRAND if name == "ada" else None})


async def resolved(value: object) -> dict[str, object] | None:
    """What a page rendered asynchronously gets: a pending brand awaited."""
    result = await value if isinstance(value, PendingBrand) else value
    assert result is None or isinstance(result, dict)
    return result


def brands(api: FakeApi, **options: float) -> MemberBrands:
    return MemberBrands(
        "http://127.0.0.1:9/services/api/",
        lambda: "quota-token",
        transport=httpx.MockTransport(api.handler),
        **options,
    )


def hub_page() -> Environment:
    hub_templates = Path(sys.prefix) / "share" / "jupyterhub" / "templates"
    loader = ChoiceLoader(
        [
            FileSystemLoader(str(TEMPLATES_DIR)),
            PrefixLoader({"templates": FileSystemLoader(str(hub_templates))}),
            FileSystemLoader(str(hub_templates)),
        ]
    )
    return Environment(loader=loader, autoescape=True, enable_async=True)


async def test_a_members_brand_is_fetched_once_and_kept() -> None:
    api = FakeApi()
    member_brand = brands(api)
    lookup = member_brand(SimpleNamespace(name="ada"))
    assert lookup is not None
    first = lookup()
    assert isinstance(first, PendingBrand) and not first  # a page rendered at once: none
    fetched = await first
    assert fetched is not None and fetched["name"] == "Acme <Lab>"
    assert "secret" not in fetched
    assert lookup() == fetched  # kept: no second request
    assert api.asked == [("/services/api/internal/branding/ada", "token quota-token")]
    # Someone in no organisation: the product's brand, also kept.
    nobody = member_brand(SimpleNamespace(name="bob"))
    assert nobody is not None and await resolved(nobody()) is None
    assert nobody() is None and len(api.asked) == 2
    assert member_brand(None) is None  # a signed-out page


async def test_a_slow_or_failing_api_leaves_the_products_brand_and_the_last_one_known() -> None:
    api = FakeApi()
    api.down = True
    member_brand = brands(api, ttl_seconds=0.0, failure_ttl_seconds=0.0)
    lookup = member_brand(SimpleNamespace(name="ada"))
    assert lookup is not None
    assert await resolved(lookup()) is None
    api.down = False
    assert (await resolved(lookup()) or {}).get("name") == "Acme <Lab>"
    api.down = True
    assert (await resolved(lookup()) or {}).get("name") == "Acme <Lab>"

    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    slow = MemberBrands(
        "http://127.0.0.1:9/services/api/",
        lambda: "t",
        wait_seconds=0.05,
        transport=httpx.MockTransport(never),
    )
    waited = slow(SimpleNamespace(name="ada"))
    assert waited is not None
    assert await resolved(waited()) is None  # the page does not wait for it
    for task in list(slow._fetching.values()):
        task.cancel()


async def test_the_hub_page_shows_the_brand_escaped_and_the_product_without_one() -> None:
    api = FakeApi()
    member_brand = brands(api)
    page = hub_page().get_template("page.html")
    common = {"product_name": "DATAZENtr", "base_url": "/hub/", "static_url": lambda *a, **k: ""}
    html = await page.render_async(
        member_brand=member_brand(SimpleNamespace(name="ada")), user=None, **common
    )
    assert "<title>Acme &lt;Lab&gt;</title>" in html and "Acme <Lab>" not in html
    assert 'src="/services/api/organisations/acme/logo?v=7"' in html
    assert 'href="/services/api/organisations/acme/brand.css?v=7"' in html
    assert "never shown" not in html
    plain = await page.render_async(
        member_brand=member_brand(SimpleNamespace(name="bob")), user=None, **common
    )
    assert "<title>DATAZENtr</title>" in plain and "brand.css" not in plain
    assert "Acme" not in plain
