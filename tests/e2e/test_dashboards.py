"""The Voila dashboards behind the hub: login, per-user data, live orchestration.

Over HTTP and in Debian's chromium against the whole platform; screenshots land in
test-artifacts/.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
import websockets.exceptions
import websockets.sync.client
from playwright.sync_api import Browser, Page, expect

from api.accounts.sessions import SIGN_IN_PATH
from hub.dashboards import FONT_AWESOME_HUB
from tests.support.artifacts import artifact_path
from tests.support.browser import sign_in
from tests.support.hub import HubUser
from tests.support.platform import Platform

pytestmark = pytest.mark.slow

DASHBOARDS = "/services/dashboards/voila/render"
NOTEBOOKS = ("neural_dashboard", "orchestration", "marketplace")
LOAD_MS = 60_000


def dashboard_client(user: HubUser) -> httpx.Client:
    """The user's hub session, through the dashboards' OAuth hand-shake once."""
    client = httpx.Client(
        base_url=user.platform.url, cookies=user.client.cookies, timeout=60, follow_redirects=True
    )
    landing = client.get("/services/dashboards/")
    assert landing.status_code == 200, landing.text[:300]
    assert user.name in landing.text
    return client


def api_client(user: HubUser) -> httpx.Client:
    return httpx.Client(
        base_url=f"{user.platform.url}/services/api/",
        headers={"Authorization": f"token {user.new_token()}"},
        timeout=60,
    )


def test_visitors_without_a_session_are_sent_to_the_platform_sign_in(platform: Platform) -> None:
    with httpx.Client(base_url=platform.url, timeout=30) as anonymous:
        first = anonymous.get(f"{DASHBOARDS}/neural_dashboard.ipynb")
        assert first.status_code == 302
        assert first.headers["location"].startswith("/hub/api/oauth2/authorize")
        followed = anonymous.get(f"{DASHBOARDS}/marketplace.ipynb", follow_redirects=True)
        # Through the hub's login (auto_login) to the platform's own sign-in page.
        assert "/hub/login" in [r.url.path for r in followed.history]
        assert followed.url.path == SIGN_IN_PATH and followed.status_code == 200
        assert anonymous.get("/services/dashboards/").status_code == 302


def test_each_dashboard_renders_over_http_without_errors(new_user: HubUser) -> None:
    client = dashboard_client(new_user)
    try:
        for name in NOTEBOOKS:
            page = client.get(f"{DASHBOARDS}/{name}.ipynb")
            assert page.status_code == 200, name
            html = page.text
            assert "application/vnd.jupyter.widget-view+json" in html, name
            assert "application/vnd.jupyter.stderr" not in html, name
            assert "Traceback" not in html and "jp-OutputArea-error" not in html, name
            # Every stylesheet comes from the platform itself, none from a CDN.
            assert "cdn.jsdelivr.net" not in html, name
            assert FONT_AWESOME_HUB in html, name
        icons = client.get(f"{FONT_AWESOME_HUB}all.min.css")
        assert icons.status_code == 200 and "font-family" in icons.text
        # The socket that hands kernels their visitor's credential is not reachable
        # through the proxy, signed in or not.
        query = client.get(f"/services/dashboards/voila/query/{uuid.uuid4()}")
        assert query.status_code == 403
    finally:
        client.close()


def test_a_dashboard_kernel_answers_only_its_visitor(platform: Platform) -> None:
    owner, other = HubUser(platform), HubUser(platform)
    for user in (owner, other):
        assert user.signup().status_code == 200 and user.login().status_code == 200
    mine, theirs = dashboard_client(owner), dashboard_client(other)
    try:
        page = mine.get(f"{DASHBOARDS}/marketplace.ipynb")
        match = re.search(r'"kernelId":\s*"([0-9a-f-]{36})"', page.text)
        assert match is not None
        kernel = f"/services/dashboards/api/kernels/{match.group(1)}"
        assert mine.get(kernel).status_code == 200
        assert theirs.get(kernel).status_code == 404
        cookies = "; ".join(f"{c.name}={c.value}" for c in theirs.cookies.jar)
        ws_url = platform.url.replace("http://", "ws://") + kernel + "/channels"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            websockets.sync.client.connect(ws_url, additional_headers={"Cookie": cookies})
        assert refused.value.response.status_code == 404
        shutdown = f"/services/dashboards/voila/api/shutdown/{match.group(1)}"
        xsrf = {"X-XSRFToken": next(c.value or "" for c in theirs.cookies.jar if c.name == "_xsrf")}
        assert theirs.post(shutdown, headers=xsrf).status_code in (403, 404)
        assert mine.get(kernel).status_code == 200  # still running
    finally:
        for client in (mine, theirs):
            client.close()
        for user in (owner, other):
            user.close()


def expect_no_error_output(page: Page) -> None:
    errors = page.locator('[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-error')
    expect(errors).to_have_count(0)
    expect(page.locator(".dz-error")).to_have_count(0)


def signed_in_page(
    browser: Browser, user: HubUser, extra_http_headers: dict[str, str] | None = None
) -> Page:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers=extra_http_headers
    )
    page = context.new_page()
    sign_in(page, user.platform.url, user.name, user.password)
    return page


def test_neural_dashboard_from_the_hub_home_and_its_explorer(
    browser: Browser, new_user: HubUser
) -> None:
    page = signed_in_page(browser, new_user)
    link = page.locator("#dashboard-neural")
    expect(link).to_be_visible()
    page.screenshot(path=artifact_path("hub-home-dashboards.png"), full_page=True)
    page.goto(f"{new_user.platform.url}{link.get_attribute('href')}")
    page.wait_for_selector(".dz-pattern-card", timeout=LOAD_MS)
    expect(page.locator(".dz-neural h2")).to_contain_text(new_user.name)
    expect(page.locator(".dz-metric").first).to_contain_text("Patterns learned")
    expect(page.locator(".dz-formula")).to_contain_text("hours saved =")
    expect(page.locator(".dz-chart")).to_be_visible()
    page.screenshot(path=artifact_path("dashboard-neural.png"), full_page=True)
    before = page.locator(".dz-pattern-card h4").all_inner_texts()
    page.fill(".dz-search input", "token bucket rate limiter")
    page.press(".dz-search input", "Enter")
    expect(page.locator(".dz-message").first).to_contain_text("token bucket rate limiter")
    first = page.locator(".dz-pattern-card h4").first
    expect(first).to_contain_text("rate limiter", ignore_case=True)
    assert page.locator(".dz-pattern-card h4").all_inner_texts() != before
    page.get_by_role("button", name="Use this pattern").first.click()
    expect(page.get_by_text("Use recorded. Files:")).to_be_visible()
    expect_no_error_output(page)
    page.screenshot(path=artifact_path("dashboard-neural-search.png"), full_page=True)
    page.context.close()


def test_marketplace_installs_a_free_bundle(browser: Browser, new_user: HubUser) -> None:
    page = signed_in_page(browser, new_user)
    page.goto(f"{new_user.platform.url}{DASHBOARDS}/marketplace.ipynb")
    page.wait_for_selector(".dz-bundle-card", timeout=LOAD_MS)
    bundle = page.locator(".dz-marketplace .widget-vbox", has_text="Data pipelines kit").last
    bundle.get_by_role("button", name="Install").click()
    expect(page.get_by_text("Installed: 5 patterns added")).to_be_visible()
    expect(page.locator(".dz-library")).to_contain_text("Data pipelines kit")
    paid = page.get_by_role("button", name="Buy $19.00")
    expect(paid).to_be_disabled()
    expect(page.get_by_text("billing is not enabled").first).to_be_visible()
    expect_no_error_output(page)
    page.screenshot(path=artifact_path("dashboard-marketplace.png"), full_page=True)
    page.context.close()


def test_orchestration_shows_a_job_live_and_only_to_its_owner(
    browser: Browser, platform: Platform
) -> None:
    owner, other = HubUser(platform), HubUser(platform)
    for user in (owner, other):
        assert user.signup().status_code == 200 and user.login().status_code == 200
    page = signed_in_page(browser, owner)
    page.goto(f"{platform.url}{DASHBOARDS}/orchestration.ipynb")
    expect(page.get_by_text("No generation jobs yet")).to_be_visible(timeout=LOAD_MS)
    # A mark on the open page: still there at the end means nothing reloaded it, so every
    # event below reached the page live (a job runs in about a second).
    page.evaluate("window.dzOpenedBeforeTheJob = true")
    with api_client(owner) as api:
        started = api.post("projects", json={"description": "A token bucket rate limiter library"})
        assert started.status_code == 202, started.text
    log = page.locator(".dz-log-lines")
    expect(log).to_contain_text("project.created", timeout=LOAD_MS)
    expect(log).to_contain_text("step.completed [intent]", timeout=LOAD_MS)
    expect(log).to_contain_text("project.finished", timeout=120_000)
    assert page.evaluate("window.dzOpenedBeforeTheJob") is True
    expect(page.locator(".dz-tasks")).to_contain_text("quality_gates")
    expect(page.locator(".dz-gates")).to_contain_text("passed")
    expect(page.locator(".dz-graph")).to_be_visible()
    expect_no_error_output(page)
    page.screenshot(path=artifact_path("dashboard-orchestration.png"), full_page=True)
    page.context.close()

    # Someone else, even sending a credential header of their own making, sees only theirs.
    spoofed = {"X-Datazentr-Dashboard-Credential": "e30.forged"}
    page = signed_in_page(browser, other, extra_http_headers=spoofed)
    page.goto(f"{platform.url}{DASHBOARDS}/orchestration.ipynb?user={owner.name}")
    expect(page.get_by_text("No generation jobs yet")).to_be_visible(timeout=LOAD_MS)
    page.goto(f"{platform.url}{DASHBOARDS}/neural_dashboard.ipynb")
    page.wait_for_selector(".dz-pattern-card", timeout=LOAD_MS)
    expect(page.locator(".dz-neural h2")).to_contain_text(other.name)
    expect(page.locator(".dz-metric", has_text="Projects accelerated")).to_contain_text(
        "of 0 generated"
    )
    page.screenshot(path=artifact_path("dashboard-other-user.png"), full_page=True)
    page.context.close()
    for user in (owner, other):
        user.close()
