"""A person on the account pages in chromium, on a desktop and a phone-sized screen: sign up,
the mail's link, the profile, the welcome page, sign out, and back in by a mailed link.

The api is served by uvicorn on loopback; screenshots go to test-artifacts/accounts-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from api.core.config import Settings
from api.main import create_app
from tests.support.accounts import PAGES, PASSWORD, fresh_email, link_path, mail_settings
from tests.support.artifacts import artifact_path
from tests.support.asgi import serve_app
from tests.support.identity import AnyUserIdentity
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site(migrated: Settings, mail_server: SmtpServer) -> Iterator[str]:
    """The api on a loopback port; mailed links name ``http://hub``, the tests swap the host."""
    app = create_app(
        mail_settings(migrated, mail_server, product_name="Acme Notebooks"),
        identity=AnyUserIdentity(),
    )
    with serve_app(app, lifespan=True) as url:
        yield url


def screen(chromium: Browser, viewport: dict[str, int]) -> Page:
    return chromium.new_context(viewport=viewport).new_page()  # type: ignore[arg-type]


def fits(page: Page) -> bool:
    """Nothing wider than the screen (no sideways scrolling)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width <= page.viewport_size["width"] if page.viewport_size else False


def mailed_link(mail_server: SmtpServer, email: str, site: str) -> str:
    [link] = mail_server.inbox.to(email)[-1].links()
    return site + link_path(link)


def test_sign_up_verify_profile_welcome_and_sign_out(
    chromium: Browser, site: str, mail_server: SmtpServer
) -> None:
    page = screen(chromium, DESKTOP)
    email = fresh_email("grace")
    page.goto(f"{site}{PAGES}/sign-up")
    expect(page).to_have_title("Create your account · Acme Notebooks")
    page.screenshot(path=artifact_path("accounts-sign-up-desktop.png"))
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading")).to_have_text("Check your mail")
    page.screenshot(path=artifact_path("accounts-check-mail-desktop.png"))

    page.goto(mailed_link(mail_server, email, site))
    page.screenshot(path=artifact_path("accounts-verify-desktop.png"))
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_role("heading")).to_have_text("About you")
    page.screenshot(path=artifact_path("accounts-profile-desktop.png"))
    page.get_by_label("Developer").check()
    page.get_by_label("School, university or company").fill("Navy")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading")).to_have_text("Welcome, Grace Hopper")
    start = page.get_by_role("link", name="Start my server")
    expect(start).to_have_attribute("href", "/hub/spawn")
    page.screenshot(path=artifact_path("accounts-welcome-desktop.png"))

    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading")).to_have_text("You are signed out")
    page.context.close()


def test_on_a_phone_the_pages_fit_and_a_mailed_link_signs_in(
    chromium: Browser, site: str, mail_server: SmtpServer
) -> None:
    page = screen(chromium, PHONE)
    for path, name in [("sign-up", "sign-up"), ("forgot", "forgot"), ("verify/resend", "resend")]:
        page.goto(f"{site}{PAGES}/{path}")
        assert fits(page), f"{path} is wider than a phone"
        page.screenshot(path=artifact_path(f"accounts-{name}-phone.png"), full_page=True)

    # Someone who signed up on the desktop test's way, signing in by link on the phone.
    email = fresh_email("ada")
    page.goto(f"{site}{PAGES}/sign-up")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Create account").click()
    page.goto(mailed_link(mail_server, email, site))
    page.get_by_role("button", name="Confirm my address").click()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"{site}{PAGES}/sign-in?next={PAGES}/welcome")
    assert fits(page)
    page.screenshot(path=artifact_path("accounts-sign-in-phone.png"), full_page=True)
    page.get_by_label("E-mail address").fill(email)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    expect(page.get_by_role("heading")).to_have_text("Check your mail")
    page.goto(mailed_link(mail_server, email, site))
    assert fits(page)
    page.screenshot(path=artifact_path("accounts-magic-link-phone.png"), full_page=True)
    page.get_by_role("button", name="Sign me in").click()
    expect(page.get_by_role("heading")).to_have_text("Welcome, Ada Lovelace")
    assert fits(page)
    page.screenshot(path=artifact_path("accounts-welcome-phone.png"), full_page=True)

    # A wrong password on the phone: the message is on the page, next to the form.
    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{site}{PAGES}/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("not-the-password-at-all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("e-mail address or password is not right")
    assert fits(page)
    page.screenshot(path=artifact_path("accounts-wrong-password-phone.png"), full_page=True)
    page.context.close()
