"""A person's own account settings and the platform admins' pages in chromium, on a desktop
and a phone-sized screen: every page fits the screen, has one heading and labels every
control; screenshots go to test-artifacts/accounts-*.png.

The api is served by uvicorn on loopback, with the real SMTP server for its mail; its hub
answers nowhere, so the tokens page shows what a person sees when the hub is down (the
tokens themselves are tested against a real JupyterHub in test_account_hub.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from jupyterhub.services.auth import HubOAuth
from playwright.sync_api import Browser, Page, expect

from api.auth import HubIdentity
from api.core.config import Settings
from api.core.names import API_PREFIX
from api.main import create_app
from tests.support.accounts import PAGES, PASSWORD, mail_settings
from tests.support.asgi import serve_app
from tests.support.network import free_port
from tests.support.own_account import nothing_listening
from tests.support.screens import (
    SCREENS,
    check_page,
    open_screen,
    person_with_password,
    sign_in_with_password,
)
from tests.support.smtp import SmtpServer

SETTINGS = f"{PAGES}/settings"
ADMIN = f"{PAGES}/admin"

pytestmark = pytest.mark.slow
screens = pytest.mark.parametrize("screen", list(SCREENS))


@pytest.fixture(scope="module")
def settings(migrated: Settings, mail_server: SmtpServer) -> Settings:
    """Mail to the test server, mailed links to the address served below."""
    site = f"http://127.0.0.1:{free_port()}"
    return mail_settings(migrated, mail_server, product_name="Acme Notebooks", public_url=site)


@pytest.fixture(scope="module")
def site(settings: Settings) -> Iterator[str]:
    assert settings.public_url is not None
    port = int(settings.public_url.rsplit(":", 1)[1])
    hub = HubOAuth(api_url=nothing_listening(), api_token="unused", base_url=API_PREFIX)
    app = create_app(settings, identity=HubIdentity(hub))
    with serve_app(app, lifespan=True, port=port) as url:
        assert url == settings.public_url
        yield url


def error_summary(page: Page) -> str:
    return page.get_by_role("alert").first.inner_text()


@screens
def test_a_persons_own_settings_pages(
    chromium: Browser, site: str, settings: Settings, screen: str
) -> None:
    person = person_with_password(settings, display_name="Ada Lovelace")
    assert person.email is not None
    # Signed in on another browser too, for the sessions page.
    elsewhere = open_screen(chromium, "desktop")
    sign_in_with_password(elsewhere, site, person.email, SETTINGS)
    page = open_screen(chromium, screen)
    sign_in_with_password(page, site, person.email, SETTINGS)

    check_page(page, "settings-overview", screen, heading="Your account")
    facts = page.locator(".facts")
    for text in ("Ada Lovelace", person.username, person.email, "confirmed", "Developer"):
        expect(facts).to_contain_text(text)

    page.get_by_role("link", name="Password", exact=True).click()
    check_page(page, "settings-password", screen, heading="Change your password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("quartz-lantern-harbour-77")
    page.get_by_label("New password again").fill("quartz-lantern-harbour-78")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert").first).to_contain_text("not the same")
    check_page(page, "settings-password-error", screen, heading="Change your password")

    page.goto(f"{site}{SETTINGS}")
    page.get_by_role("link", name="API tokens").click()
    check_page(page, "settings-tokens-hub-down", screen, heading="The hub is not answering")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was changed")
    expect(page.get_by_role("link", name="Try again")).to_have_attribute(
        "href", f"{SETTINGS}/tokens"
    )

    page.goto(f"{site}{SETTINGS}")
    page.get_by_role("link", name="Sessions").click()
    check_page(page, "settings-sessions", screen, heading="Where you are signed in")
    rows = page.locator("table.rows tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tr.current")).to_contain_text("this browser")
    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(rows).to_have_count(1)
    check_page(page, "settings-sessions-alone", screen, heading="Where you are signed in")
    elsewhere.goto(f"{site}{SETTINGS}")
    expect(elsewhere.locator("h1")).to_have_text("Sign in to Acme Notebooks")
    elsewhere.context.close()

    page.goto(f"{site}{SETTINGS}")
    page.get_by_role("link", name="Delete account").click()
    check_page(page, "settings-delete", screen, heading="Delete your account")
    page.get_by_label(f"Type your user name, {person.username}, to confirm").fill("someone-else")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("alert").first).to_contain_text(person.username)
    check_page(page, "settings-delete-error", screen, heading="Delete your account")
    page.get_by_role("link", name="Keep my account").click()
    expect(page.locator("h1")).to_have_text("Your account")
    page.context.close()


@screens
def test_an_admin_searches_opens_an_account_and_imports_a_class(
    chromium: Browser, site: str, settings: Settings, mail_server: SmtpServer, screen: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    admin = person_with_password(settings, role="platform_admin", display_name="Grace Admin")
    pupils = [person_with_password(settings, display_name=f"Pupil {tag} {n}") for n in "AB"]
    assert admin.email is not None
    page = open_screen(chromium, screen)
    sign_in_with_password(page, site, admin.email, ADMIN)

    check_page(page, "admin-accounts", screen, heading="Accounts")
    page.get_by_label("Name, user name or e-mail address").fill(tag)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text(f"2 accounts match “{tag}”")
    expect(page.locator("table.accounts tbody tr")).to_have_count(2)
    check_page(page, "admin-accounts-search", screen, heading="Accounts")

    page.get_by_role("link", name=f"Pupil {tag} A").click()
    check_page(page, "admin-account", screen, heading=f"Pupil {tag} A")
    expect(page.locator("main")).to_contain_text(pupils[0].username)
    expect(page.get_by_role("combobox", name="Role")).to_have_value("developer")

    page.get_by_role("link", name="Import from CSV").click()
    check_page(page, "admin-import", screen, heading="Import accounts from CSV")
    emails = [f"{name}-{tag}@example.edu" for name in ("ada", "charles")]
    good = [f"Ada {tag},{emails[0]},student,,", f"Charles {tag},{emails[1]},developer,,"]
    bad = ["No Address,not-an-address,student,,", f"Emperor,emperor-{tag}@example.edu,emperor,,"]
    header = "name,email,role,plan,organisation"
    page.get_by_label("Or paste the rows").fill("\n".join([header, *good, *bad]))
    page.get_by_role("button", name="Check the file").click()

    check_page(page, "admin-import-report", screen, heading="Import check")
    expect(page.get_by_role("alert")).to_contain_text("2 problems")
    expect(page.get_by_role("alert")).to_contain_text("Nothing has been created")
    problems = page.locator("table.problems tbody tr")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("'not-an-address' is not an e-mail address.")
    expect(problems.nth(1)).to_contain_text("Unknown role 'emperor'")
    # A table's name stands above its scrolling frame: inside it, a phone cuts it off.
    expect(page.get_by_role("table", name="Rows that cannot be imported")).to_have_count(1)
    expect(page.locator(".table-wrap caption")).to_have_count(0)
    expect(page.get_by_role("button", name="Import 2 accounts")).to_have_count(0)

    page.get_by_label("The rows").fill("\n".join([header, *good]))
    page.get_by_role("button", name="Check again").click()
    expect(page.get_by_role("status")).to_contain_text("2 accounts would be created")
    check_page(page, "admin-import-clean", screen, heading="Import check")
    page.get_by_role("button", name="Import 2 accounts and send the invitations").click()

    check_page(page, "admin-import-done", screen, heading="Accounts imported")
    expect(page.get_by_role("status")).to_contain_text("2 accounts were created")
    expect(page.locator("table.invited tbody tr")).to_have_count(2)
    page.context.close()

    # Ada opens her invitation on her own browser and chooses a password.
    [mail] = mail_server.inbox.to(emails[0])
    [link] = [url for url in mail.links() if "/accounts/invitation?" in url]
    assert link.startswith(f"{site}{PAGES}/invitation?")
    ada = open_screen(chromium, screen)
    ada.goto(link)
    check_page(ada, "invitation", screen, heading="Welcome to Acme Notebooks")
    expect(ada.locator(".lead")).to_contain_text(emails[0])
    ada.get_by_label("Choose a password").fill("violet-anchor-meadow-52")
    ada.get_by_label("I accept the terms of use").check()
    ada.get_by_role("button", name="Start using my account").click()
    expect(ada.locator("h1")).to_have_text("About you")
    ada.goto(link)
    check_page(ada, "invitation-used", screen)
    expect(ada.get_by_role("alert")).to_contain_text("already been used")
    ada.context.close()
