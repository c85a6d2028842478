"""A person in Debian's chromium: the login page, signing up and in, the hub home."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.artifacts import artifact_path
from tests.support.browser import sign_in
from tests.support.hub import HubUser
from tests.support.platform import Platform

pytestmark = pytest.mark.slow


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def test_sign_up_and_sign_in_reaches_the_hub_home(platform: Platform, page: Page) -> None:
    user = HubUser(platform)
    page.goto(f"{platform.url}/hub/login")
    expect(page).to_have_title("DATAZENtr")
    page.screenshot(path=artifact_path("login-page.png"))

    page.get_by_role("link", name="Sign up").click()
    page.fill("input[name=username]", user.name)
    page.fill("input[name=signup_password]", user.password)
    page.fill("input[name=signup_password_confirmation]", user.password)
    page.click("input[type=submit], button[type=submit]")
    expect(page.locator("body")).to_contain_text("signup was successful")
    page.screenshot(path=artifact_path("signup-done.png"))

    sign_in(page, platform.url, user.name, user.password)
    expect(page.locator("body")).to_contain_text("Start My Server")
    expect(page.locator("body")).to_contain_text(user.name)
    page.screenshot(path=artifact_path("hub-home.png"))


def test_wrong_password_shows_an_error_on_the_page(platform: Platform, page: Page) -> None:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    page.goto(f"{platform.url}/hub/login")
    page.fill("input[name=username]", user.name)
    page.fill("input[name=password]", "this-is-not-it")
    page.click("input[type=submit]")
    expect(page.locator(".login_error, .alert")).to_contain_text("Invalid username or password")
    assert "/hub/login" in page.url
    page.screenshot(path=artifact_path("login-wrong-password.png"))


def test_api_docs_open_after_hub_login(platform: Platform, page: Page) -> None:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    sign_in(page, platform.url, user.name, user.password)
    page.goto(f"{platform.url}/services/api/me")
    expect(page.locator("body")).to_contain_text(f'"name":"{user.name}"')
    page.goto(f"{platform.url}/services/api/docs")
    expect(page.locator("body")).to_contain_text("DATAZENtr API")
    page.screenshot(path=artifact_path("api-docs.png"))


def test_start_my_server_opens_jupyterlab(platform: Platform, page: Page) -> None:
    user = HubUser(platform)
    assert user.signup().status_code == 200
    sign_in(page, platform.url, user.name, user.password)
    page.get_by_text("Start My Server").click()
    page.wait_for_url(f"**/user/{user.name}/lab**", timeout=120_000)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Python 3 (ipykernel)").first).to_be_visible(timeout=60_000)
    page.screenshot(path=artifact_path("jupyterlab.png"))
    # Leave nothing running for the next tests.
    token = user.new_token() if user.login().status_code == 302 else ""
    user.client.delete(
        f"/hub/api/users/{user.name}/server", headers={"Authorization": f"token {token}"}
    )
