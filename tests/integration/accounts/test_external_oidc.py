"""Signing in with an OpenID Connect provider: oidc-provider-mock 0.3.4 on loopback, reached by
the api over HTTP (discovery, code + PKCE, ID token checked against its JWKS, userinfo)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from api.accounts.passwords import hash_password
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountIdentity, AccountSession
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    account_pages,
    create_account,
    csrf_token,
    fresh_email,
    link_path,
)
from tests.support.outside_providers import (
    OidcMock,
    come_back,
    oidc_mock,
    start_sign_in,
    with_oidc_provider,
)
from tests.support.smtp import SmtpServer

PROVIDER = "campus"
# oidc-provider-mock's own use of Authlib's older interfaces.
pytestmark = [
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]


@pytest.fixture
def provider() -> Iterator[OidcMock]:
    with oidc_mock() as mock:
        yield mock


@pytest.fixture
def settings(account_settings: Settings, provider: OidcMock) -> Settings:
    # The hub's own sign-in plays no part here.
    native = account_settings.model_copy(update={"authenticator": "native"})
    return with_oidc_provider(native, provider.issuer)


@pytest.fixture
async def browser(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with account_pages(settings) as client:
        yield client


def subject() -> str:
    return f"campus-{uuid.uuid4().hex[:10]}"


async def sign_in_at_provider(
    browser: httpx.AsyncClient, provider: OidcMock, sub: str, *, next: str = "/hub/home"
) -> httpx.Response:
    authorize_url = await start_sign_in(browser, PROVIDER, next=next)
    return await come_back(browser, await provider.sign_in(authorize_url, sub))


async def account_of(database: Database, sub: str) -> Account | None:
    async with database.sessionmaker() as session:
        row = await session.scalar(
            select(AccountIdentity).where(
                AccountIdentity.provider == PROVIDER, AccountIdentity.subject == sub
            )
        )
        return await session.get(Account, row.account_id) if row else None


async def signed_in_as(browser: httpx.AsyncClient) -> str | None:
    """The signed-in person's user name, read off the sign-in methods page."""
    page = await browser.get(f"{PAGES}/settings/sign-in-methods")
    if page.status_code != 200:
        return None
    marker = "as "
    lead = page.text.split('class="lead">', 1)[1].split("</p>", 1)[0]
    return lead.rsplit(marker, 1)[1].rstrip(".")


async def test_a_verified_newcomer_gets_an_account_and_comes_back_to_it(
    browser: httpx.AsyncClient, settings: Settings, provider: OidcMock, database: Database
) -> None:
    sub, email = subject(), fresh_email("carol")
    provider.set_user(sub, {"email": email, "email_verified": True, "name": "Carol Campus"})
    authorize_url = await start_sign_in(browser, PROVIDER, next="/hub/home")
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    assert query["redirect_uri"] == [f"http://hub{PAGES}/external/{PROVIDER}/callback"]
    assert "openid" in query["scope"][0].split()
    answer = await come_back(browser, await provider.sign_in(authorize_url, sub))
    # A new account completes its profile first, then goes on to where it was going.
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{PAGES}/profile?next=%2Fhub%2Fhome"
    account = await account_of(database, sub)
    assert account is not None
    assert account.email == email and account.email_verified_at is not None
    assert account.display_name == "Carol Campus" and account.password_hash is None
    assert account.username.startswith("carol-")
    assert await signed_in_as(browser) == account.username

    # Signing out and in again with the provider finds the same account.
    async with account_pages(settings) as again:
        second = await sign_in_at_provider(again, provider, sub)
        assert second.status_code == 303
        assert await signed_in_as(again) == account.username
    async with database.sessionmaker() as session:
        methods = (
            await session.scalars(
                select(AccountSession.method).where(AccountSession.account_id == account.id)
            )
        ).all()
        types = (
            await session.scalars(
                select(Event.type).where(Event.stream == f"account:{account.id}").order_by(Event.id)
            )
        ).all()
    assert methods == [PROVIDER, PROVIDER]
    assert types[:3] == ["account.signed_up", "account.identity_linked", "account.signed_in"]
    assert types.count("account.signed_in") == 2


async def test_a_verified_address_of_an_existing_account_links_only_after_the_mailed_confirmation(
    browser: httpx.AsyncClient,
    settings: Settings,
    provider: OidcMock,
    database: Database,
    smtp: SmtpServer,
) -> None:
    owner = await create_account(database, password_hash=await hash_password(PASSWORD))
    assert owner.email is not None
    sub = subject()
    provider.set_user(sub, {"email": owner.email, "email_verified": True, "name": "Owner"})
    answer = await sign_in_at_provider(browser, provider, sub, next="/hub/home")
    assert answer.status_code == 200, answer.text
    assert "Check your mail" in answer.text and owner.email in answer.text
    # Not signed in, and nothing linked yet.
    assert await signed_in_as(browser) is None
    assert await account_of(database, sub) is None

    [mail] = smtp.inbox.to(owner.email)
    assert "Campus SSO" in mail.message["Subject"]
    [url] = [link for link in mail.links() if "/accounts/link?" in link]
    # Opening the link (a mail scanner) changes nothing; the button links and signs in.
    confirm = await browser.get(link_path(url))
    assert confirm.status_code == 200 and "Link Campus SSO" in confirm.text
    assert await account_of(database, sub) is None
    done = await browser.post(
        f"{PAGES}/link",
        data={
            "token": parse_qs(urlsplit(url).query)["token"][0],
            "csrf_token": csrf_token(confirm.text),
        },
    )
    assert done.status_code == 303, done.text
    linked = await account_of(database, sub)
    assert linked is not None and linked.id == owner.id
    assert await signed_in_as(browser) == owner.username

    # The link works once.
    reused = await browser.get(link_path(url))
    assert reused.status_code == 400 and "already been used" in reused.text
    # One way on: the sign-in page, offered once.
    assert reused.text.count(f'href="{PAGES}/sign-in"') == 1

    # From now on the provider signs the owner in directly.
    async with account_pages(settings) as other:
        direct = await sign_in_at_provider(other, provider, sub)
        assert direct.status_code == 303
        assert await signed_in_as(other) == owner.username
    assert len(smtp.inbox.to(owner.email)) == 1


async def test_an_unverified_address_never_links_to_the_account_that_has_it(
    browser: httpx.AsyncClient,
    settings: Settings,
    provider: OidcMock,
    database: Database,
    smtp: SmtpServer,
) -> None:
    owner = await create_account(database, password_hash=await hash_password(PASSWORD))
    assert owner.email is not None
    stranger, newcomer = subject(), subject()
    fresh = fresh_email("newcomer")
    # The mock gives an unknown subject no email_verified claim at all; these say False.
    provider.set_user(stranger, {"email": owner.email, "email_verified": False})
    provider.set_user(newcomer, {"email": fresh, "email_verified": False})

    tried = await sign_in_at_provider(browser, provider, stranger)
    async with account_pages(settings) as other:
        new = await sign_in_at_provider(other, provider, newcomer)
    # Both read the same; neither is signed in.
    assert tried.status_code == new.status_code == 200
    assert tried.text.replace(owner.email, "ADDRESS") == new.text.replace(fresh, "ADDRESS")
    assert await signed_in_as(browser) is None
    assert await account_of(database, stranger) is None

    # The owner is told, and offered no link that would attach the identity.
    [note] = smtp.inbox.to(owner.email)
    assert "Someone tried" in note.message["Subject"]
    assert not [link for link in note.links() if "token=" in link]
    # The newcomer's account waits for its address to be confirmed by mail.
    created = await account_of(database, newcomer)
    assert created is not None and created.email == fresh and created.email_verified_at is None
    [verification] = smtp.inbox.to(fresh)
    assert any("/accounts/verify?token=" in link for link in verification.links())


async def test_an_id_token_with_a_spoiled_signature_signs_nobody_in(
    account_settings: Settings, database: Database
) -> None:
    with oidc_mock(tamper_signature=True) as spoiled:
        settings = with_oidc_provider(
            account_settings.model_copy(update={"authenticator": "native"}), spoiled.issuer
        )
        sub = subject()
        spoiled.set_user(sub, {"email": fresh_email("mallory"), "email_verified": True})
        async with account_pages(settings) as browser:
            answer = await sign_in_at_provider(browser, spoiled, sub)
            assert answer.status_code == 400
            assert "did not confirm who you are" in answer.text
            assert f"{PAGES}/external/{PROVIDER}/start" in answer.text  # try again
            assert await signed_in_as(browser) is None
    assert await account_of(database, sub) is None
    async with database.sessionmaker() as session:
        reasons = (
            await session.scalars(
                select(Event.payload["reason"].astext).where(
                    Event.type == "account.external_sign_in_failed"
                )
            )
        ).all()
    assert "refused" in reasons


async def test_an_answer_for_another_browser_is_refused(
    settings: Settings, provider: OidcMock, database: Database
) -> None:
    sub = subject()
    provider.set_user(sub, {"email": fresh_email("victim"), "email_verified": True})
    async with account_pages(settings) as attacker, account_pages(settings) as victim:
        authorize_url = await start_sign_in(attacker, PROVIDER)
        callback = await provider.sign_in(authorize_url, sub)
        # The attacker's callback link, opened by the victim's browser.
        refused = await come_back(victim, callback)
        assert refused.status_code == 400 and "Please start again" in refused.text
        assert await signed_in_as(victim) is None
        # A state that was never issued, in the browser that did start a sign-in.
        forged = callback.replace("state=", "state=x")
        assert (await come_back(attacker, forged)).status_code == 400
    assert await account_of(database, sub) is None


async def test_declining_at_the_provider_says_so_and_offers_to_try_again(
    browser: httpx.AsyncClient, provider: OidcMock
) -> None:
    authorize_url = await start_sign_in(browser, PROVIDER)
    answer = await come_back(browser, await provider.deny(authorize_url))
    assert answer.status_code == 400
    assert "Sign-in was cancelled" in answer.text and "declined" in answer.text
    assert "Try Campus SSO again" in answer.text


async def test_next_to_another_site_is_ignored(
    browser: httpx.AsyncClient, provider: OidcMock, database: Database
) -> None:
    owner = await create_account(database)
    async with database.sessionmaker() as session:
        stored = await session.get(Account, owner.id)
        assert stored is not None
        stored.profile_completed_at = stored.created_at
        session.add(
            AccountIdentity(
                id=uuid.uuid4(), account_id=owner.id, provider=PROVIDER, subject=(sub := subject())
            )
        )
        await session.commit()
    answer = await sign_in_at_provider(browser, provider, sub, next="https://elsewhere.example/")
    assert answer.status_code == 303 and answer.headers["location"] == "/hub/"


async def test_a_provider_that_is_down_gets_a_page_not_an_error(
    account_settings: Settings,
) -> None:
    with oidc_mock() as gone:
        issuer = gone.issuer
    settings = with_oidc_provider(
        account_settings.model_copy(update={"authenticator": "native"}), issuer
    )
    async with account_pages(settings) as browser:
        answer = await browser.get(f"{PAGES}/external/{PROVIDER}/start")
        assert answer.status_code == 502
        assert "could not be reached" in answer.text and "Try Campus SSO again" in answer.text
        unknown = await browser.get(f"{PAGES}/external/nosuch/start")
        assert unknown.status_code == 404


async def test_confirming_a_link_to_an_unconfirmed_account_drops_its_password(
    browser: httpx.AsyncClient, provider: OidcMock, database: Database, smtp: SmtpServer
) -> None:
    # Someone signed up with this address and a password, but never confirmed the address.
    squatter = await create_account(
        database, password_hash=await hash_password(PASSWORD), verified=False
    )
    assert squatter.email is not None
    sub = subject()
    provider.set_user(sub, {"email": squatter.email, "email_verified": True})
    await sign_in_at_provider(browser, provider, sub)
    [mail] = smtp.inbox.to(squatter.email)
    [url] = [link for link in mail.links() if "/accounts/link?" in link]
    confirm = await browser.get(link_path(url))
    done = await browser.post(
        f"{PAGES}/link",
        data={
            "token": parse_qs(urlsplit(url).query)["token"][0],
            "csrf_token": csrf_token(confirm.text),
        },
    )
    assert done.status_code == 303
    # The address's owner proved it twice (provider and mail); the password was not theirs.
    async with database.sessionmaker() as session:
        account = await session.get(Account, squatter.id)
        assert account is not None
        assert account.password_hash is None and account.email_verified_at is not None
        assert account.session_epoch == 1
    assert await signed_in_as(browser) == squatter.username
