"""Single sign-on in chromium, on a desktop and a phone-sized screen: an admin sets up the
organisation's provider (oidc-provider-mock on loopback) on its page, tests the connection
and turns it on; its domain waits until a platform admin approves it on the organisations
page; then a newcomer at the domain types their address on the sign-in page, signs in at
the provider, completes the profile and is a member.

The api is served by uvicorn on loopback with the public address the browser uses (the
provider sends the browser back there); screenshots go to test-artifacts/accounts-sso-*.png.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.models import Account
from tests.support.accounts import PAGES, mail_settings
from tests.support.asgi import serve_app
from tests.support.identity import AnyUserIdentity
from tests.support.network import free_port
from tests.support.organisations import membership
from tests.support.outside_providers import OidcMock, oidc_mock
from tests.support.screens import (
    SCREENS,
    check_page,
    in_database,
    open_screen,
    person_with_password,
    sign_in_with_password,
)
from tests.support.smtp import SmtpServer

ORGANISATION = f"{PAGES}/organisation"

pytestmark = [
    pytest.mark.slow,
    # oidc-provider-mock's own use of Authlib's older interfaces.
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcMock]:
    with oidc_mock() as mock:
        yield mock


@pytest.fixture(scope="module")
def settings(migrated: Settings, mail_server: SmtpServer) -> Settings:
    site = f"http://127.0.0.1:{free_port()}"
    return mail_settings(
        migrated,
        mail_server,
        product_name="Acme Notebooks",
        public_url=site,
        # The test's OpenID Connect provider runs on this machine (127.0.0.1).
        sso_allow_private_issuers=True,
    )


@pytest.fixture(scope="module")
def site(settings: Settings) -> Iterator[str]:
    assert settings.public_url is not None
    port = int(settings.public_url.rsplit(":", 1)[1])
    app = create_app(settings, identity=AnyUserIdentity())
    with serve_app(app, lifespan=True, port=port) as url:
        assert url == settings.public_url
        yield url


def account_at(settings: Settings, email: str) -> Account | None:
    async def read(database: Database) -> Account | None:
        async with database.sessionmaker() as session:
            row: Account | None = await session.scalar(
                select(Account).where(Account.email == email)
            )
            return row

    return in_database(settings, read)


def member_of(settings: Settings, account: Account) -> tuple[str | None, str | None]:
    return in_database(settings, lambda database: membership(database, account))


def set_up_sso(
    page: Page, site: str, settings: Settings, provider: OidcMock, screen: str
) -> tuple[str, str]:
    """A new admin creates an organisation and turns its single sign-on on: its short name
    and domain."""
    admin = person_with_password(settings, display_name="Grace Hopper")
    assert admin.email is not None
    sign_in_with_password(page, site, admin.email, ORGANISATION)
    slug, domain = f"acme-{uuid.uuid4().hex[:8]}", f"sso-{uuid.uuid4().hex[:8]}.example.org"
    page.get_by_label("Name", exact=True).fill("Acme Research")
    page.get_by_label("Short name").fill(slug)
    page.get_by_label("E-mail domains").fill(domain)
    page.get_by_role("button", name="Create organisation").click()
    expect(page.locator("h1")).to_have_text("Acme Research")
    page.get_by_role("link", name="Single sign-on").click()
    check_page(page, "sso-setup", screen, heading="Single sign-on")
    expect(page.locator(".facts")).to_contain_text(f"{site}{PAGES}/external/org-{slug}/callback")
    page.get_by_label("Issuer").fill(provider.issuer)
    page.get_by_label("Client id").fill("datazentr")
    page.get_by_label("Client secret").fill("acme-secret")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#connection-test")).to_contain_text("The connection works.")
    check_page(page, "sso-tested", screen, heading="Single sign-on")
    # The secret is never shown back: typed again, then saved with the switch on.
    expect(page.get_by_label("Client secret")).to_have_value("")
    page.get_by_label("Client secret").fill("acme-secret")
    page.get_by_label("On: send people").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text("were saved")
    expect(page.locator(".facts")).to_contain_text("On")
    expect(page.locator(".domain-approvals")).to_contain_text(
        f"Waiting for a platform admin to approve single sign-on for {domain}"
    )
    check_page(page, "sso-saved", screen, heading="Single sign-on")
    return slug, domain


def approve_domain(page: Page, site: str, settings: Settings, domain: str, screen: str) -> None:
    """A platform admin approves ``domain`` on the organisations page."""
    admin = person_with_password(settings, role="platform_admin", display_name="Alan Turing")
    assert admin.email is not None
    sign_in_with_password(page, site, admin.email, f"{PAGES}/admin")
    page.get_by_role("link", name="Organisations").click()
    expect(page.locator("h1")).to_have_text("Organisations")
    entry = page.locator(f'li[data-domain="{domain}"]')
    expect(entry).to_contain_text("not approved")
    entry.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice")).to_contain_text(f"Single sign-on is approved for {domain}")
    approved = page.locator(f'li[data-domain="{domain}"]')
    expect(approved.get_by_role("button", name="Revoke")).to_be_visible()
    expect(approved).not_to_contain_text("not approved")
    check_page(page, "sso-approved", screen, heading="Organisations")


@pytest.mark.parametrize("screen", list(SCREENS))
def test_an_admin_sets_it_up_and_a_newcomer_signs_in_through_it(
    chromium: Browser, site: str, settings: Settings, provider: OidcMock, screen: str
) -> None:
    admin_page = open_screen(chromium, screen)
    slug, domain = set_up_sso(admin_page, site, settings, provider, screen)
    admin_page.context.close()
    platform_page = open_screen(chromium, screen)
    approve_domain(platform_page, site, settings, domain, screen)
    platform_page.context.close()

    sub, email = f"staff-{uuid.uuid4().hex[:8]}", f"lin-{uuid.uuid4().hex[:6]}@{domain}"
    provider.set_user(sub, {"email": email, "name": "Lin Chen"})
    page = open_screen(chromium, screen)
    page.goto(f"{site}{PAGES}/sign-in?next={PAGES}/settings")
    page.get_by_label("E-mail address or user name").fill(email)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # The organisation's provider, not the password check.
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{site}{PAGES}/profile**")
    check_page(page, "sso-newcomer-profile", screen, heading="About you")
    page.get_by_label("Student", exact=True).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{site}{PAGES}/**")
    account = account_at(settings, email)
    assert account is not None and account.display_name == "Lin Chen"
    assert member_of(settings, account) == (slug, "member")
    page.goto(f"{site}{ORGANISATION}")
    check_page(page, "sso-newcomer-organisation", screen, heading="Acme Research")
    expect(page.locator(".facts")).to_contain_text("Member")
    page.context.close()
