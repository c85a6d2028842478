"""Outside sign-in in chromium, on a desktop and a phone-sized screen: a newcomer signs in with
an OpenID Connect provider (oidc-provider-mock on loopback: its page asks for a subject) and
gets an account, completes the profile and is welcomed, then comes back to the same account;
a newcomer signs up with GitHub (a loopback server speaking GitHub's endpoints); a signed-in
person links GitHub from the sign-in methods page; a provider's verified address of an
existing account links only through the mail the real SMTP server receives.

The api is served by uvicorn on loopback, with its public address the one the browser uses
(the providers send the browser back there); screenshots go to test-artifacts/accounts-*.png.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.models.account import Account, AccountIdentity
from tests.support.accounts import PAGES, fresh_email, mail_settings
from tests.support.artifacts import artifact_path
from tests.support.asgi import serve_app
from tests.support.identity import AnyUserIdentity
from tests.support.network import free_port
from tests.support.outside_providers import (
    GitHubFake,
    GitHubPerson,
    OidcMock,
    github_fake,
    oidc_mock,
    with_github,
    with_oidc_provider,
)
from tests.support.screens import (
    SCREENS,
    check_page,
    in_database,
    open_screen,
    person_with_password,
    sign_in_with_password,
)
from tests.support.smtp import SmtpServer

PROVIDER, PROVIDER_NAME = "campus", "Campus SSO"
METHODS = f"{PAGES}/settings/sign-in-methods"

pytestmark = [
    pytest.mark.slow,
    # oidc-provider-mock's own use of Authlib's older interfaces.
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]
screens = pytest.mark.parametrize("screen", list(SCREENS))


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcMock]:
    with oidc_mock() as mock:
        yield mock


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubFake]:
    with github_fake() as fake:
        yield fake


@pytest.fixture(scope="module")
def settings(
    migrated: Settings, mail_server: SmtpServer, provider: OidcMock, github: GitHubFake
) -> Settings:
    """Mail to the test server, links and provider callbacks to the address served below."""
    site = f"http://127.0.0.1:{free_port()}"
    mailing = mail_settings(migrated, mail_server, product_name="Acme Notebooks", public_url=site)
    return with_github(with_oidc_provider(mailing, provider.issuer), github)


@pytest.fixture(scope="module")
def site(settings: Settings) -> Iterator[str]:
    assert settings.public_url is not None
    port = int(settings.public_url.rsplit(":", 1)[1])
    app = create_app(settings, identity=AnyUserIdentity())
    with serve_app(app, lifespan=True, port=port) as url:
        assert url == settings.public_url
        yield url


def subject() -> str:
    return f"campus-{uuid.uuid4().hex[:10]}"


def github_person(name: str) -> GitHubPerson:
    login = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}"
    return GitHubPerson(
        id=random.randint(10**6, 10**9),
        login=login,
        name=name,
        emails=[
            {
                "email": fresh_email(login),
                "primary": True,
                "verified": True,
                "visibility": "public",
            }
        ],
    )


def at_the_provider(page: Page, sub: str, screen: str) -> None:
    """oidc-provider-mock's authorize page: type the subject and authorise."""
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.screenshot(path=artifact_path(f"accounts-provider-authorize-{screen}.png"))
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def sign_out(page: Page) -> None:
    page.get_by_role("link", name="Sign out").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("h1")).to_have_text("You are signed out")


def identities_of(settings: Settings, account_id: uuid.UUID) -> list[tuple[str, str | None]]:
    async def read(database: Database) -> list[tuple[str, str | None]]:
        async with database.sessionmaker() as session:
            rows = await session.execute(
                select(AccountIdentity.provider, AccountIdentity.email)
                .where(AccountIdentity.account_id == account_id)
                .order_by(AccountIdentity.provider)
            )
            return [(provider, email) for provider, email in rows.all()]

    return in_database(settings, read)


def account_by_identity(settings: Settings, provider: str, sub: str) -> Account | None:
    async def read(database: Database) -> Account | None:
        async with database.sessionmaker() as session:
            row = await session.scalar(
                select(AccountIdentity).where(
                    AccountIdentity.provider == provider, AccountIdentity.subject == sub
                )
            )
            return await session.get(Account, row.account_id) if row else None

    return in_database(settings, read)


@screens
def test_a_newcomer_signs_in_with_the_provider_and_comes_back_to_the_same_account(
    chromium: Browser, site: str, settings: Settings, provider: OidcMock, screen: str
) -> None:
    sub, email = subject(), fresh_email("carol")
    provider.set_user(sub, {"email": email, "email_verified": True, "name": "Carol Campus"})
    page = open_screen(chromium, screen)
    page.goto(f"{site}{PAGES}/sign-in")
    check_page(page, "sign-in-with-providers", screen, heading="Sign in to Acme Notebooks")
    expect(page.get_by_role("link", name="Continue with GitHub")).to_be_visible()
    page.get_by_role("link", name=f"Continue with {PROVIDER_NAME}").click()
    at_the_provider(page, sub, screen)

    # A new account: the profile first (its name and address came from the provider).
    page.wait_for_url(f"{site}{PAGES}/profile**")
    check_page(page, "provider-profile", screen, heading="About you")
    page.get_by_label("Student", exact=True).check()
    page.get_by_label("School, university or company").fill("Campus University")
    page.get_by_role("button", name="Continue").click()
    check_page(page, "provider-welcome", screen, heading="Welcome, Carol Campus")
    account = account_by_identity(settings, PROVIDER, sub)
    assert account is not None
    assert account.email == email and account.email_verified_at is not None
    assert account.role == "student" and account.password_hash is None

    page.goto(f"{site}{METHODS}")
    check_page(page, "provider-sign-in-methods", screen, heading="Sign-in methods")
    expect(page.locator(".methods")).to_contain_text(PROVIDER_NAME)
    expect(page.locator(".methods")).to_contain_text(email)
    # No password, but the confirmed address signs in by mailed link: the provider may go.
    expect(page.locator(".methods")).to_contain_text(f"To {email}")
    expect(page.get_by_role("button", name=f"Unlink {PROVIDER_NAME} ({email})")).to_be_visible()
    sign_out(page)

    # Back again: the provider signs the same account straight in, to where it was going.
    page.goto(f"{site}{PAGES}/sign-in?next={PAGES}/settings")
    page.get_by_role("link", name=f"Continue with {PROVIDER_NAME}").click()
    at_the_provider(page, sub, screen)
    page.wait_for_url(f"{site}{PAGES}/settings")
    check_page(page, "provider-signed-in-again", screen, heading="Your account")
    expect(page.locator(".facts")).to_contain_text(account.username)
    assert identities_of(settings, account.id) == [(PROVIDER, email)]
    page.context.close()


@screens
def test_declining_at_the_provider_gets_a_page_that_offers_another_try(
    chromium: Browser, site: str, screen: str
) -> None:
    page = open_screen(chromium, screen)
    page.goto(f"{site}{PAGES}/sign-in")
    page.get_by_role("link", name=f"Continue with {PROVIDER_NAME}").click()
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.get_by_role("button", name="Deny").click()
    check_page(page, "provider-declined", screen, heading="Sign-in was cancelled")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was changed here")
    page.get_by_role("link", name=f"Try {PROVIDER_NAME} again").click()
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.context.close()


@screens
def test_a_newcomer_signs_up_with_github(
    chromium: Browser, site: str, settings: Settings, github: GitHubFake, screen: str
) -> None:
    person = github_person("Mona Octo")
    github.person = person
    page = open_screen(chromium, screen)
    page.goto(f"{site}{PAGES}/sign-up")
    check_page(page, "sign-up-with-providers", screen, heading="Create your account")
    # GitHub approves at once (the person allowed the app before) and sends them back.
    page.get_by_role("link", name="Continue with GitHub").click()
    page.wait_for_url(f"{site}{PAGES}/profile**")
    check_page(page, "github-profile", screen, heading="About you")
    page.get_by_label("Developer").check()
    page.get_by_role("button", name="Continue").click()
    check_page(page, "github-welcome", screen, heading="Welcome, Mona Octo")
    account = account_by_identity(settings, "github", str(person.id))
    assert account is not None and account.email == person.emails[0]["email"]
    assert account.username.startswith(person.login.split("-")[0])
    page.context.close()


@screens
def test_a_signed_in_person_links_github_from_the_sign_in_methods_page(
    chromium: Browser, site: str, settings: Settings, github: GitHubFake, screen: str
) -> None:
    owner = person_with_password(settings)
    assert owner.email is not None
    page = open_screen(chromium, screen)
    sign_in_with_password(page, site, owner.email, METHODS)
    check_page(page, "sign-in-methods", screen, heading="Sign-in methods")
    expect(page.locator(".methods")).to_contain_text("Password")

    other = github_person("Ada Octo")
    github.person = other
    page.get_by_role("link", name="Link GitHub").click()
    page.wait_for_url(f"{site}{METHODS}?linked=github")
    check_page(page, "sign-in-methods-linked", screen, heading="Sign-in methods")
    expect(page.get_by_role("status")).to_have_text("GitHub is linked to your account.")
    github_email = other.emails[0]["email"]
    unlink = page.get_by_role("button", name=f"Unlink GitHub ({github_email})")
    expect(unlink).to_be_visible()
    assert identities_of(settings, owner.id) == [("github", github_email)]

    # The password stays a way in, so GitHub can be unlinked again.
    unlink.click()
    page.wait_for_url(f"{site}{METHODS}?unlinked=github")
    expect(page.get_by_role("status")).to_have_text("GitHub is unlinked from your account.")
    assert identities_of(settings, owner.id) == []
    page.context.close()


@screens
def test_the_provider_address_of_an_existing_account_links_through_the_mail(
    chromium: Browser,
    site: str,
    settings: Settings,
    provider: OidcMock,
    mail_server: SmtpServer,
    screen: str,
) -> None:
    owner = person_with_password(settings, display_name="Owen Owner")
    assert owner.email is not None
    sub = subject()
    provider.set_user(sub, {"email": owner.email, "email_verified": True, "name": "Owen"})
    page = open_screen(chromium, screen)
    page.goto(f"{site}{PAGES}/sign-in?next={METHODS}")
    page.get_by_role("link", name=f"Continue with {PROVIDER_NAME}").click()
    at_the_provider(page, sub, screen)
    check_page(page, "provider-check-mail-to-link", screen, heading="Check your mail")
    expect(page.locator("main")).to_contain_text(owner.email)
    assert account_by_identity(settings, PROVIDER, sub) is None

    [mail] = mail_server.inbox.to(owner.email)
    assert PROVIDER_NAME in mail.message["Subject"]
    [link] = [url for url in mail.links() if "/accounts/link?" in url]
    assert link.startswith(f"{site}{PAGES}/link?")
    page.goto(link)
    confirm = f"Link {PROVIDER_NAME} to your account"
    check_page(page, "provider-link-confirm", screen, heading=confirm)
    page.get_by_role("button", name=f"Link {PROVIDER_NAME} and sign in").click()
    page.wait_for_url(f"{site}{METHODS}")
    expect(page.locator(".methods")).to_contain_text(PROVIDER_NAME)
    linked = account_by_identity(settings, PROVIDER, sub)
    assert linked is not None and linked.id == owner.id

    # The mailed link works once.
    page.goto(link)
    check_page(page, "provider-link-used", screen)
    expect(page.locator("main")).to_contain_text("already been used")
    page.context.close()
