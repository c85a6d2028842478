"""Signing in with GitHub and Google: loopback servers with their endpoints' request and
response shapes, the api's provider URLs pointed at them (as for GitHub Enterprise)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from api.accounts.external.providers import sign_in_buttons
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.accounts.templating import render_template
from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account, AccountIdentity
from tests.support.accounts import PAGES, account_pages, fresh_email
from tests.support.outside_providers import (
    GitHubFake,
    GitHubPerson,
    GoogleFake,
    GooglePerson,
    come_back,
    github_fake,
    google_fake,
    start_sign_in,
    with_github,
    with_google,
)
from tests.support.smtp import SmtpServer


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    with github_fake() as fake:
        yield fake


@pytest.fixture
def google() -> Iterator[GoogleFake]:
    with google_fake() as fake:
        yield fake


@pytest.fixture
def settings(account_settings: Settings, github: GitHubFake, google: GoogleFake) -> Settings:
    native = account_settings.model_copy(update={"authenticator": "native"})
    return with_google(with_github(native, github), google)


@pytest.fixture
async def browser(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with account_pages(settings) as client:
        yield client


def octocat(email: str, *, verified: bool = True) -> GitHubPerson:
    number = uuid.uuid4().int % 10**8
    return GitHubPerson(
        id=number,
        login=f"octo{number}",
        name="Mona Octocat",
        emails=[
            {"email": f"old-{email}", "primary": False, "verified": True, "visibility": None},
            {"email": email, "primary": True, "verified": verified, "visibility": "private"},
        ],
    )


async def identity(database: Database, provider: str, subject: str) -> Account | None:
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountIdentity).where(
                AccountIdentity.provider == provider, AccountIdentity.subject == subject
            )
        )
        return await session.get(Account, row.account_id) if row else None


async def test_github_signs_up_a_verified_primary_address_then_signs_it_in(
    browser: httpx.AsyncClient, settings: Settings, github: GitHubFake, database: Database
) -> None:
    email = fresh_email("mona")
    github.person = octocat(email)
    authorize_url = await start_sign_in(browser, "github")
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{github.base_url}/login/oauth/authorize?")
    assert query["scope"] == ["read:user user:email"] and "nonce" not in query
    answer = await come_back(browser, await github.browse(authorize_url))
    assert answer.status_code == 303, answer.text
    # The token request carried the PKCE verifier and the registered callback.
    [token_request] = github.token_requests
    assert token_request["code_verifier"] and token_request["client_id"] == github.client_id
    assert token_request["redirect_uri"] == f"http://hub{PAGES}/external/github/callback"
    account = await identity(database, "github", str(github.person.id))
    assert account is not None and account.email == email
    assert account.email_verified_at is not None and account.display_name == "Mona Octocat"

    async with account_pages(settings) as again:
        second = await come_back(again, await github.browse(await start_sign_in(again, "github")))
        assert second.status_code == 303
        page = await again.get(f"{PAGES}/settings/sign-in-methods")
        assert page.status_code == 200 and account.username in page.text
        assert "GitHub" in page.text and email in page.text and "last used" in page.text


async def test_github_with_an_unverified_primary_address_gets_a_verification_mail(
    browser: httpx.AsyncClient, github: GitHubFake, database: Database, smtp: SmtpServer
) -> None:
    email = fresh_email("unverified")
    github.person = octocat(email, verified=False)
    answer = await come_back(browser, await github.browse(await start_sign_in(browser, "github")))
    assert answer.status_code == 200 and "Check your mail" in answer.text
    account = await identity(database, "github", str(github.person.id))
    assert account is not None and account.email_verified_at is None
    [mail] = smtp.inbox.to(email)
    assert any("/accounts/verify?token=" in link for link in mail.links())
    assert (await browser.get(f"{PAGES}/settings/sign-in-methods")).status_code == 303


async def test_a_code_github_refuses_gets_a_page_that_says_so(
    browser: httpx.AsyncClient, github: GitHubFake, database: Database
) -> None:
    github.person = octocat(fresh_email("refused"))
    callback = await github.browse(await start_sign_in(browser, "github"))
    github.grants.clear()  # the code expired at GitHub before the api redeemed it
    answer = await come_back(browser, callback)
    assert answer.status_code == 400 and "did not confirm who you are" in answer.text
    assert await identity(database, "github", str(github.person.id)) is None


async def test_google_signs_up_with_a_verified_id_token(
    browser: httpx.AsyncClient, google: GoogleFake, database: Database
) -> None:
    person = GooglePerson(
        sub=str(uuid.uuid4().int)[:21],
        email=fresh_email("g"),
        email_verified=True,
        name="Gita Google",
    )
    google.person = person
    authorize_url = await start_sign_in(browser, "google")
    assert authorize_url.startswith(f"{google.base_url}/o/oauth2/v2/auth?")
    assert parse_qs(urlsplit(authorize_url).query)["nonce"][0]
    answer = await come_back(browser, await google.browse(authorize_url))
    assert answer.status_code == 303, answer.text
    account = await identity(database, "google", person.sub)
    assert account is not None and account.email == person.email
    assert account.email_verified_at is not None


@pytest.mark.parametrize("tamper", ["issuer", "audience", "signature"])
async def test_google_id_tokens_with_a_wrong_issuer_audience_or_signature_are_refused(
    browser: httpx.AsyncClient, google: GoogleFake, database: Database, tamper: str
) -> None:
    person = GooglePerson(
        sub=str(uuid.uuid4().int)[:21],
        email=fresh_email("t"),
        email_verified=True,
        name="Trudy Tamper",
    )
    google.person, google.tamper = person, tamper
    answer = await come_back(browser, await google.browse(await start_sign_in(browser, "google")))
    assert answer.status_code == 400, answer.text
    assert "did not confirm who you are" in answer.text
    assert await identity(database, "google", person.sub) is None
    assert (await browser.get(f"{PAGES}/settings/sign-in-methods")).status_code == 303


async def test_the_sign_in_page_offers_only_configured_providers(
    account_settings: Settings, settings: Settings
) -> None:
    native = account_settings.model_copy(update={"authenticator": "native"})
    async with account_pages(native) as plain:
        assert (await plain.get(f"{PAGES}/external/github/start")).status_code == 404
    async with account_pages(settings) as offered:
        started = await offered.get(f"{PAGES}/external/github/start")
        assert started.status_code == 303
        # The buttons the sign-in page shows for these settings lead to the providers.
        page = render_template(
            "pages/sign_in.html",
            product_name="P",
            prefix=ACCOUNTS_PREFIX,
            csrf_field="csrf_token",
            csrf_token="t",
            account=None,
            error=None,
            error_field=None,
            values={"next": "/hub/home"},
            outside_providers=sign_in_buttons(settings),
        )
        buttons = re.findall(r'href="([^"]*/external/[^"]+/start[^"]*)"[^>]*>([^<]+)<', page)
        assert [label for _, label in buttons] == ["Continue with GitHub", "Continue with Google"]
        for href, _ in buttons:
            answer = await offered.get(html.unescape(href))
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("http://127.0.0.1:")
