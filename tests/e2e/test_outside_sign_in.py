"""Outside sign-in on the running platform: the operator offers an OpenID Connect provider
(oidc-provider-mock on loopback, named in DATAZENTR_OIDC_PROVIDERS); in chromium a newcomer
opens the hub's login, presses "Continue with Campus SSO" on the platform's sign-in page,
signs in at the provider, completes the profile, is welcomed and goes on to the hub's home,
where the hub knows them by their account's user name, as no admin, in their role's group.
Coming back in a new browser, the provider signs them straight in."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from api.accounts.sessions import SIGN_IN_PATH
from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account, AccountIdentity
from tests.support.accounts import fresh_email
from tests.support.artifacts import artifact_path
from tests.support.outside_providers import OidcMock, oidc_mock
from tests.support.platform import Platform, leftover_processes, start_platform, stop_platform
from tests.support.screens import arrive, in_database, open_screen

PROVIDER, PROVIDER_NAME = "campus", "Campus SSO"

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
def offering(tmp_path_factory: pytest.TempPathFactory, provider: OidcMock) -> Iterator[Platform]:
    """The platform with its own sign-in (the default) and the provider on its pages."""
    data_dir = tmp_path_factory.mktemp("outside-sign-in-platform") / "data"
    data_dir.mkdir()
    providers = [
        {
            "name": PROVIDER,
            "display_name": PROVIDER_NAME,
            "issuer": provider.issuer,
            "client_id": "datazentr",
            "client_secret": "campus-secret",
        }
    ]
    running = start_platform(
        data_dir,
        artifact_path("platform-outside-sign-in.log"),
        DATAZENTR_OIDC_PROVIDERS=json.dumps(providers),
    )
    try:
        yield running
    finally:
        code = stop_platform(running)
        leftovers = leftover_processes(running)
        assert code == 0, f"launcher exited with {code}:\n{running.log_tail()}"
        assert not leftovers, f"processes left behind: {leftovers}"


def account_signed_in_with(platform: Platform, sub: str) -> Account | None:
    settings = Settings(_env_file=None, data_dir=platform.data_dir)

    async def read(database: Database) -> Account | None:
        async with database.sessionmaker() as session:
            row = await session.scalar(
                select(AccountIdentity).where(
                    AccountIdentity.provider == PROVIDER, AccountIdentity.subject == sub
                )
            )
            return await session.get(Account, row.account_id) if row else None

    return in_database(settings, read)


def continue_with_provider(page: Page, platform: Platform, sub: str, shot: str) -> None:
    """From the hub's login to the platform's sign-in page, on to the provider, and back."""
    page.goto(f"{platform.url}/hub/login")
    page.wait_for_url(re.compile(re.escape(f"{platform.url}{SIGN_IN_PATH}") + r"\?next="))
    page.screenshot(path=artifact_path(f"platform-outside-sign-in-{shot}.png"))
    page.get_by_role("link", name=f"Continue with {PROVIDER_NAME}").click()
    expect(page.locator("h1")).to_have_text("Authorize Client")
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def hub_model(page: Page, platform: Platform, name: str) -> dict[str, object]:
    """The hub's REST model of the signed-in person, read with a token made with the
    browser's hub session, as the hub's Token page does."""
    xsrf = next(
        (c["value"] for c in page.context.cookies(f"{platform.url}/hub/") if c["name"] == "_xsrf"),
        "",
    )
    made = page.context.request.post(
        f"{platform.url}/hub/api/users/{name}/tokens",
        data={"note": "e2e", "expires_in": 3600},
        headers={"X-XSRFToken": xsrf},
    )
    assert made.status == 201, made.text()
    token = made.json()["token"]
    model: dict[str, object] = httpx.get(
        f"{platform.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=60
    ).json()
    return model


def test_a_newcomer_signs_in_with_the_provider_reaches_the_hub_and_comes_back(
    offering: Platform, provider: OidcMock, browser: Browser
) -> None:
    sub, email = f"campus-{uuid.uuid4().hex[:10]}", fresh_email("carol")
    provider.set_user(sub, {"email": email, "email_verified": True, "name": "Carol Campus"})

    page = open_screen(browser, "desktop")
    continue_with_provider(page, offering, sub, "sign-in")
    # A new account completes its profile, then the hub's sign-in goes on.
    expect(page.locator("h1")).to_have_text("About you")
    page.screenshot(path=artifact_path("platform-outside-sign-in-profile.png"))
    page.get_by_label("Student", exact=True).check()
    page.get_by_label("School, university or company").fill("Campus University")
    page.get_by_role("button", name="Continue").click()
    # The welcome page, whose button goes on with the hub's sign-in.
    expect(page.locator("h1")).to_have_text("Welcome, Carol Campus")
    page.screenshot(path=artifact_path("platform-outside-sign-in-welcome.png"))
    page.get_by_role("link", name="Continue").click()
    arrive(page, f"{offering.url}/hub/home")
    page.screenshot(path=artifact_path("platform-outside-sign-in-hub-home.png"))

    account = account_signed_in_with(offering, sub)
    assert account is not None, offering.log_tail()
    assert account.email == email and account.email_verified_at is not None
    assert account.role == "student"
    expect(page.locator("body")).to_contain_text(account.username)
    model = hub_model(page, offering, account.username)
    assert (model["name"], model["admin"], model["groups"]) == (
        account.username,
        False,
        ["students"],
    )
    page.context.close()

    # Another day, another browser (a phone): the provider signs the same account straight in.
    again = open_screen(browser, "phone")
    continue_with_provider(again, offering, sub, "again-phone")
    arrive(again, f"{offering.url}/hub/home")
    again.screenshot(path=artifact_path("platform-outside-sign-in-again-hub-home-phone.png"))
    assert hub_model(again, offering, account.username)["name"] == account.username
    returning = account_signed_in_with(offering, sub)
    assert returning is not None and returning.id == account.id
    again.context.close()
