"""A person in Debian's chromium on the whole platform: the hub's login leads to the
platform's own pages; signing up, confirming the mailed link (read from the outbox, as an
operator without SMTP does), the profile, the welcome page, JupyterLab; signing out and back
in by a mailed link; a forgotten password; the hub home after each way in.

Screenshots go to test-artifacts/platform-*.png, on a desktop and a phone-sized screen."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from api.accounts.sessions import SIGN_IN_PATH
from tests.support.artifacts import artifact_path
from tests.support.browser import sign_in
from tests.support.hub import PAGES, HubUser
from tests.support.outbox import outbox_mails, wait_for_link
from tests.support.platform import Platform

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def screen(request: pytest.FixtureRequest) -> dict[str, int]:
    viewport: dict[str, int] = request.param
    return viewport


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    width = page.viewport_size["width"] if page.viewport_size else DESKTOP["width"]
    size = "phone" if width < DESKTOP["width"] else "desktop"
    page.screenshot(path=artifact_path(f"platform-{name}-{size}.png"), full_page=True)


def open_mailed_link(
    page: Page, platform: Platform, email: str, path_part: str, after: int
) -> None:
    """Open the newest mail's link as the person does, and press its button."""
    link = wait_for_link(platform.data_dir, email, path_part, after=after)
    assert link.startswith(platform.url), link  # links name the platform's own address
    page.goto(link)
    page.locator("main form button[type=submit]").click()


def fits(page: Page) -> bool:
    """Nothing wider than the screen (no sideways scrolling)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return page.viewport_size is not None and width <= page.viewport_size["width"]


def test_a_visitor_signs_up_confirms_and_lands_in_jupyterlab(
    platform: Platform, browser: Browser, screen: dict[str, int]
) -> None:
    context = browser.new_context(viewport=screen)  # type: ignore[arg-type]
    page = context.new_page()
    visitor = HubUser(platform)
    try:
        page.goto(f"{platform.url}/hub/login")
        page.wait_for_url(f"{platform.url}{SIGN_IN_PATH}?**")
        expect(page).to_have_title("Sign in · DATAZENtr")
        # The platform's page, not JupyterHub's: no hub logo, no "unsecured HTTP" box.
        expect(page.locator("img[src*='jupyterhub']")).to_have_count(0)
        expect(page.get_by_text("insecure", exact=False)).to_have_count(0)
        assert fits(page)
        shot(page, "sign-in")

        page.get_by_role("link", name="Create an account").click()
        page.get_by_label("Your name").fill("Grace Hopper")
        page.get_by_label("E-mail address").fill(visitor.email)
        page.get_by_label("Password").fill(visitor.password)
        page.get_by_label("I accept the terms of use").check()
        shot(page, "sign-up")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
        shot(page, "check-mail")

        open_mailed_link(page, platform, visitor.email, "/accounts/verify?", after=0)
        expect(page.get_by_role("heading", name="About you")).to_be_visible()
        shot(page, "profile")
        page.get_by_label("Student", exact=True).check()
        page.get_by_label("School, university or company").fill("Yale")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", name="Welcome, Grace Hopper")).to_be_visible()
        expect(page.get_by_text(visitor.name)).to_be_visible()
        assert fits(page)
        shot(page, "welcome")
        if screen == PHONE:
            return  # the account pages on a phone; one server start (desktop) is enough

        page.get_by_role("link", name="Start my server").click()
        page.wait_for_url(f"**/user/{visitor.name}/lab**", timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Python 3 (ipykernel)").first).to_be_visible(timeout=60_000)
        shot(page, "jupyterlab")
    finally:
        context.close()
        # Leave nothing running for the next tests.
        if urlsplit(str(visitor.login().url)).path == "/hub/home":
            token = visitor.new_token()
            visitor.client.delete(
                f"/hub/api/users/{visitor.name}/server",
                headers={"Authorization": f"token {token}"},
            )
        visitor.close()


def test_a_wrong_password_is_refused_on_the_page(platform: Platform, page: Page) -> None:
    person = HubUser(platform)
    assert person.signup().status_code == 200
    page.goto(f"{platform.url}/hub/login")
    page.wait_for_url(f"{platform.url}{SIGN_IN_PATH}?**")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", "this-is-not-it")
    page.click("button[value=password]")
    expect(page.get_by_role("alert")).to_contain_text("password is not right")
    assert urlsplit(page.url).path == SIGN_IN_PATH
    shot(page, "sign-in-wrong-password")


def test_sign_out_then_back_in_by_a_mailed_link(platform: Platform, page: Page) -> None:
    person = HubUser(platform)
    assert person.signup().status_code == 200
    sign_in(page, platform.url, person.name, person.password)
    expect(page.locator("body")).to_contain_text(person.name)
    shot(page, "hub-home")

    page.goto(f"{platform.url}/hub/logout")
    page.wait_for_url(f"{platform.url}{PAGES}/**")
    page.goto(f"{platform.url}/hub/home")  # signed out of the hub and of the platform
    page.wait_for_url(f"{platform.url}{SIGN_IN_PATH}?**")

    mails = len(outbox_mails(platform.data_dir, person.email))
    page.fill("input[name=email]", person.email)
    page.click("button[value=magic_link]")
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    open_mailed_link(page, platform, person.email, "/accounts/magic?", after=mails)
    page.wait_for_url(f"{platform.url}/hub/home")
    expect(page.locator("body")).to_contain_text(person.name)


def test_a_forgotten_password_is_reset_by_mail(platform: Platform, page: Page) -> None:
    person = HubUser(platform)
    assert person.signup().status_code == 200
    page.goto(f"{platform.url}/hub/login")
    page.wait_for_url(f"{platform.url}{SIGN_IN_PATH}?**")
    page.get_by_role("link", name="Forgot your password?").click()
    mails = len(outbox_mails(platform.data_dir, person.email))
    page.get_by_label("E-mail address").fill(person.email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

    link = wait_for_link(platform.data_dir, person.email, "/accounts/reset?", after=mails)
    page.goto(link)
    new_password = "quartz-otter-lantern-73"
    page.get_by_label("New password").fill(new_password)
    shot(page, "reset")
    page.get_by_role("button", name="Save the new password").click()
    page.wait_for_url(f"{platform.url}/hub/home")  # signed in with it, on to the hub
    expect(page.locator("body")).to_contain_text(person.name)

    # The old password no longer signs in; the new one does, up to the hub.
    person.client.cookies.clear()
    assert person.login().status_code == 401
    assert person.login(password=new_password).status_code == 200


def test_api_docs_open_after_hub_login(platform: Platform, page: Page) -> None:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    sign_in(page, platform.url, user.name, user.password)
    page.goto(f"{platform.url}/services/api/me")
    expect(page.locator("body")).to_contain_text(f'"name":"{user.name}"')
    page.goto(f"{platform.url}/services/api/docs")
    expect(page.locator("body")).to_contain_text("DATAZENtr API")
    page.screenshot(path=artifact_path("api-docs.png"))
