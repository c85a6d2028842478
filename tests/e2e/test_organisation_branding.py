"""An organisation's branding on the whole platform, in Debian's chromium: its admin brands
it and invites a member (the mailed link from the platform's outbox); the member sees its
name, logo and colours on the hub's pages, the dashboards and JupyterLab's top bar, all
served through the proxy. Someone in another organisation sees none of it.

Screenshots land in test-artifacts/branding-*.png.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.accounts import PAGES, csrf_token
from tests.support.artifacts import artifact_path
from tests.support.branding import png
from tests.support.browser import sign_in
from tests.support.hub import HubUser
from tests.support.outbox import wait_for_link
from tests.support.platform import Platform
from tests.support.waiting import PATIENCE_SECONDS

pytestmark = pytest.mark.slow

ORGANISATION = f"{PAGES}/organisation"
TEAL, AMBER = "#0d9488", "#f59e0b"
LOAD_MS = 120_000


def send_form(user: HubUser, path: str, data: dict[str, str], page: str | None = None) -> int:
    shown = user.client.get(page or path)
    assert shown.status_code == 200, shown.text[:500]
    sent = user.client.post(path, data={**data, "csrf_token": csrf_token(shown.text)})
    return sent.status_code


def person(platform: Platform) -> HubUser:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    assert user.login().status_code == 200
    return user


@pytest.fixture(scope="module")
def people(platform: Platform) -> Iterator[tuple[HubUser, HubUser, HubUser]]:
    """An admin whose organisation is branded, a member who joined by the mailed link, and
    the admin of another organisation."""
    admin, member, outsider = person(platform), person(platform), person(platform)
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    created = send_form(
        admin, ORGANISATION, {"name": "Acme Research", "slug": slug, "kind": "company"}
    )
    assert created == 303
    branding = f"{ORGANISATION}/branding"
    shown = admin.client.get(branding)
    assert shown.status_code == 200, shown.text[:500]
    saved = admin.client.post(
        branding,
        data={
            "csrf_token": csrf_token(shown.text),
            "action": "save",
            "brand_name": "Acme Lab",
            "brand_primary": TEAL,
            "brand_accent": AMBER,
        },
        files={"logo": ("acme.png", png(120, 40, (13, 148, 136)), "image/png")},
    )
    assert saved.status_code == 303, saved.text[:500]
    invited = send_form(
        admin,
        f"{ORGANISATION}/invitations",
        {"email": member.email, "role": "member"},
        ORGANISATION,
    )
    assert invited == 303
    link = urlsplit(wait_for_link(platform.data_dir, member.email, "/organisation/invitations/"))
    assert send_form(member, link.path, {}) == 303
    other = f"globex-{uuid.uuid4().hex[:6]}"
    assert (
        send_form(outsider, ORGANISATION, {"name": "Globex", "slug": other, "kind": "company"})
        == 303
    )
    yield admin, member, outsider
    for user in (admin, member, outsider):
        user.close()


def signed_in(browser: Browser, platform: Platform, user: HubUser) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    sign_in(page, platform.url, user.email, user.password)
    return page


def reload_until(page: Page, condition: Callable[[], bool], what: str) -> None:
    """The hub fetches a member's brand in the background: reload until it shows."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not shown within {PATIENCE_SECONDS:g} s"
        page.wait_for_timeout(250)
        page.reload()


def image_loaded(page: Page, selector: str) -> bool:
    loaded: bool = page.locator(selector).first.evaluate(
        "img => img.complete && img.naturalWidth === 120"
    )
    return loaded


def test_a_member_sees_the_branding_on_the_hub_dashboards_and_jupyterlab(
    platform: Platform, browser: Browser, people: tuple[HubUser, HubUser, HubUser]
) -> None:
    _, member, _ = people
    page = signed_in(browser, platform, member)
    logo = page.locator("#jupyterhub-logo")
    reload_until(page, lambda: "Acme Lab" in logo.inner_text(), "the hub's branded logo")
    expect(page).to_have_title("Acme Lab")
    assert image_loaded(page, "#jupyterhub-logo img.brand-logo")
    border = page.locator("nav.navbar").evaluate("nav => getComputedStyle(nav).borderBottomColor")
    assert border == "rgb(245, 158, 11)"
    page.screenshot(path=artifact_path("branding-hub-home.png"))

    page.goto(f"{platform.url}/services/dashboards/")
    expect(page.locator(".dz-dashboard-brand")).to_have_text("Acme Lab")
    assert image_loaded(page, ".dz-dashboard-brand img")
    page.goto(f"{platform.url}/services/dashboards/voila/render/neural_dashboard.ipynb")
    bar = page.locator(".dz-dashboard-brand")
    expect(bar).to_have_text("Acme Lab", timeout=LOAD_MS)
    colour = bar.evaluate("bar => getComputedStyle(bar).backgroundColor")
    assert colour == "rgb(13, 148, 136)"
    # The dashboard itself still works under the bar: the visitor's own data.
    expect(page.locator(".dz-metric").first).to_contain_text("Patterns learned", timeout=LOAD_MS)
    page.screenshot(path=artifact_path("branding-dashboard.png"))

    page.goto(f"{platform.url}/hub/home")
    page.get_by_text("Start My Server").click()
    page.wait_for_url(f"**/user/{member.name}/lab**", timeout=LOAD_MS)
    brand = page.locator("#jp-top-panel #dz-brand")
    expect(brand).to_be_visible(timeout=LOAD_MS)
    expect(brand.locator(".dz-brand-name")).to_have_text("Acme Lab")
    assert image_loaded(page, "#dz-brand img.dz-brand-logo")
    expect(page.locator("#jp-MainLogo")).to_be_hidden()
    page.screenshot(path=artifact_path("branding-jupyterlab.png"))
    page.goto(f"{platform.url}/hub/home")
    page.get_by_role("button", name="Stop My Server").click()
    expect(page.get_by_text("Start My Server")).to_be_visible(timeout=LOAD_MS)
    page.context.close()


def test_another_organisations_member_sees_none_of_it(
    platform: Platform, browser: Browser, people: tuple[HubUser, HubUser, HubUser]
) -> None:
    _, _, outsider = people
    page = signed_in(browser, platform, outsider)
    # Their own organisation has no branding: the product's pages, however often reloaded.
    for _ in range(3):
        expect(page.locator("#jupyterhub-logo")).to_have_text("DATAZENtr")
        expect(page.locator("#jupyterhub-logo img")).to_have_count(0)
        page.reload()
    assert "Acme" not in page.content()
    page.goto(f"{platform.url}/services/dashboards/")
    expect(page.get_by_role("heading", name="Dashboards")).to_be_visible()
    expect(page.locator(".dz-dashboard-brand")).to_have_count(0)
    assert "Acme" not in page.content()
    page.screenshot(path=artifact_path("branding-other-hub.png"))
    page.context.close()
