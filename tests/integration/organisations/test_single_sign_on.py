"""Single sign-on for an organisation through the local OpenID Connect provider
(oidc-provider-mock on loopback): its admin sets it up on the organisation's page and tests
the connection; once a platform admin approves a domain (the REST endpoint or the
organisations page), people at it are sent to the provider from the sign-in page, and get
an account and a seat just in time; an unapproved domain is not; an issuer that does not
answer says so plainly and keeps nobody else from signing in."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from api.accounts.passwords import hash_password
from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.models import Account, Event, Tenant, UserProfile
from api.models.account import AccountIdentity, AccountSession
from api.organisations import sso
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    create_account,
    create_person,
    csrf_token,
    fresh_email,
    link_path,
    submit,
)
from tests.support.admin_pages import person_with_password
from tests.support.api import PREFIX
from tests.support.asgi import serve_app
from tests.support.identity import as_user
from tests.support.network import free_port
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    invite_on_page,
    join_on_link,
    mailed_invitation,
    membership,
    organisation_browser,
    post_on_page,
    run_by,
    sign_in_to,
)
from tests.support.outside_providers import OidcMock, come_back, oidc_mock
from tests.support.smtp import SmtpServer

# oidc-provider-mock's own use of Authlib's older interfaces.
pytestmark = [
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

SSO = f"{ORGANISATION}/sso"
ADMIN_ORGANISATIONS = f"{PAGES}/admin/organisations"
SECRET = "org-client-secret-7c1f"


@pytest.fixture
def provider() -> Iterator[OidcMock]:
    with oidc_mock() as mock:
        yield mock


def fresh_domain() -> str:
    return f"sso-{uuid.uuid4().hex[:8]}.example.org"


def subject() -> str:
    return f"staff-{uuid.uuid4().hex[:10]}"


async def save_sso(
    client: httpx.AsyncClient,
    issuer: str,
    *,
    enabled: bool = True,
    client_id: str = "datazentr",
    secret: str = SECRET,
) -> httpx.Response:
    fields = {"issuer": issuer, "client_id": client_id, "client_secret": secret, "action": "save"}
    if enabled:
        fields["enabled"] = "yes"
    return await submit(client, SSO, fields, page=SSO)


async def press_test_connection(client: httpx.AsyncClient, issuer: str) -> httpx.Response:
    fields = {"issuer": issuer, "client_id": "datazentr", "client_secret": "", "action": "test"}
    return await submit(client, SSO, fields, page=SSO)


def sso_domains_url(slug: str) -> str:
    return f"{PREFIX}/admin/tenants/{slug}/sso-domains"


async def approve_by_api(
    open_browser: OpenBrowser, slug: str, domains: list[str], *, who: str = "root"
) -> httpx.Response:
    """``PUT /admin/tenants/{slug}/sso-domains`` as the hub user ``who`` (root: a platform
    admin)."""
    api = await open_browser()
    return await api.put(sso_domains_url(slug), json={"domains": domains}, headers=as_user(who))


async def organisation_with_sso(
    open_browser: OpenBrowser, database: Database, issuer: str, **organisation: str
) -> tuple[httpx.AsyncClient, Account, str, str]:
    """An organisation run by a new admin, its domain (approved by a platform admin), its
    single sign-on at ``issuer``."""
    browser = await open_browser()
    domain = fresh_domain()
    admin, slug = await run_by(browser, database, email_domains=domain, **organisation)
    saved = await save_sso(browser, issuer)
    assert saved.status_code == 303, saved.text
    approved = await approve_by_api(open_browser, slug, [domain])
    assert approved.status_code == 200, approved.text
    return browser, admin, slug, domain


async def tenant_row(database: Database, slug: str) -> Tenant:
    async with database.sessionmaker() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        return tenant


async def person_at(database: Database, email: str) -> Account:
    """An account with the test password and a complete profile, at ``email``."""
    account = await create_account(
        database, email=email, password_hash=await hash_password(PASSWORD), display_name="Pat"
    )
    async with database.sessionmaker() as session:
        row = await session.get(Account, account.id)
        assert row is not None
        row.profile_completed_at = row.created_at
        await session.commit()
        return row


async def sign_in_form(
    browser: httpx.AsyncClient, email: str, *, next_url: str = "/hub/home", password: str = ""
) -> httpx.Response:
    return await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": email, "password": password, "next": next_url, "action": "password"},
    )


def sso_start_of(sent: httpx.Response, organisation: str = "Acme Research") -> str:
    """The sign-in page's answer to an address with single sign-on: a page that leads on to
    the organisation's provider (a link, and a refresh to it); the start's path."""
    assert sent.status_code == 200, sent.text
    assert f"<h1>Sign in with {organisation}</h1>" in sent.text
    [start] = re.findall(r'class="button primary" href="([^"]+)"', sent.text)
    start = html.unescape(start)
    assert f'content="0; url={html.escape(start)}"' in sent.text
    return start


async def through_provider(
    browser: httpx.AsyncClient,
    provider: OidcMock,
    slug: str,
    email: str,
    sub: str,
    *,
    next_url: str = "/hub/home",
) -> httpx.Response:
    """Type the address on the sign-in page, sign in at the organisation's provider as
    ``sub``, come back: the api's answer."""
    start = sso_start_of(await sign_in_form(browser, email, next_url=next_url))
    assert urlsplit(start).path == f"{PAGES}/external/org-{slug}/start", start
    assert parse_qs(urlsplit(start).query)["next"] == [next_url]
    answer = await browser.get(start)
    assert answer.status_code == 303, answer.text
    authorize_url = answer.headers["location"]
    assert authorize_url.startswith(f"{provider.issuer}/"), authorize_url
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["redirect_uri"] == [f"http://hub{PAGES}/external/org-{slug}/callback"]
    return await come_back(browser, await provider.sign_in(authorize_url, sub))


async def identity_of(database: Database, slug: str, sub: str) -> AccountIdentity | None:
    async with database.sessionmaker() as session:
        row: AccountIdentity | None = await session.scalar(
            select(AccountIdentity).where(
                AccountIdentity.provider == f"org-{slug}", AccountIdentity.subject == sub
            )
        )
        return row


async def account_with(database: Database, email: str) -> Account | None:
    async with database.sessionmaker() as session:
        row: Account | None = await session.scalar(select(Account).where(Account.email == email))
        return row


def no_stack_trace(response: httpx.Response) -> None:
    assert "Traceback" not in response.text and "Internal Server Error" not in response.text


# Issuers that answer wrongly, for "Test connection" --------------------------------------------


def _wrong_issuers() -> Starlette:
    def base(request: Request, which: str) -> str:
        return f"{str(request.base_url).rstrip('/')}/{which}"

    async def html(request: Request) -> Response:
        return PlainTextResponse("<html><body>Welcome to our portal</body></html>")

    async def elsewhere(request: Request) -> Response:
        return JSONResponse({"issuer": "https://login.elsewhere.example"})

    async def bare(request: Request) -> Response:
        return JSONResponse({"issuer": base(request, "bare"), "token_endpoint": "ftp://x"})

    return Starlette(
        routes=[
            Route("/html/.well-known/openid-configuration", html),
            Route("/elsewhere/.well-known/openid-configuration", elsewhere),
            Route("/bare/.well-known/openid-configuration", bare),
        ]
    )


@contextmanager
def wrong_issuers() -> Iterator[str]:
    with serve_app(_wrong_issuers()) as base_url:
        yield base_url


# The page --------------------------------------------------------------------------------------


async def test_an_admin_sets_up_single_sign_on_and_tests_the_connection(
    open_browser: OpenBrowser,
    database: Database,
    provider: OidcMock,
    org_settings: Settings,
) -> None:
    browser = await open_browser()
    domain = fresh_domain()
    _, slug = await run_by(browser, database, email_domains=domain)
    shown = await browser.get(SSO)
    assert shown.status_code == 200, shown.text
    assert f"http://hub{PAGES}/external/org-{slug}/callback" in shown.text
    assert "Not set yet." in shown.text and domain in shown.text

    tested = await press_test_connection(browser, provider.issuer)
    assert tested.status_code == 200, tested.text
    assert "The connection works." in tested.text
    assert f"names the issuer {provider.issuer}" in tested.text
    assert "signing keys were read" in tested.text
    # Testing saves nothing.
    assert (await tenant_row(database, slug)).sso_issuer is None

    saved = await save_sso(browser, provider.issuer + "/")
    assert saved.status_code == 303 and saved.headers["location"] == f"{SSO}?done=saved"
    page = await browser.get(saved.headers["location"])
    assert "were saved" in page.text and "<dd>On</dd>" in page.text
    assert f'value="{provider.issuer}"' in page.text
    # The secret is write-only: never shown back, kept encrypted.
    assert SECRET not in page.text and "A secret is kept" in page.text
    tenant = await tenant_row(database, slug)
    assert tenant.sso_enabled and tenant.sso_issuer == provider.issuer
    assert tenant.sso_client_secret_encrypted and SECRET not in tenant.sso_client_secret_encrypted
    assert sso.decrypt_secret(org_settings, tenant.sso_client_secret_encrypted) == SECRET

    # Saved again with the secret left empty: the secret is kept.
    again = await save_sso(browser, provider.issuer, client_id="datazentr-2", secret="")
    assert again.status_code == 303, again.text
    tenant = await tenant_row(database, slug)
    assert tenant.sso_client_id == "datazentr-2"
    assert sso.decrypt_secret(org_settings, tenant.sso_client_secret_encrypted) == SECRET


async def test_the_connection_test_says_what_failed(
    open_browser: OpenBrowser, database: Database
) -> None:
    browser = await open_browser()
    await run_by(browser, database, email_domains=fresh_domain())
    down = f"http://127.0.0.1:{free_port()}"
    with wrong_issuers() as base:
        cases = {
            down: "The issuer could not be reached at",
            f"{base}/html": "is not a JSON discovery document",
            # What the issuer answered is not shown back: only what was wrong.
            f"{base}/elsewhere": "names another issuer, not",
            f"{base}/bare": "lacks these endpoints",
            f"{base}/nothing-here": "answered HTTP 404",
        }
        for issuer, said in cases.items():
            tested = await press_test_connection(browser, issuer)
            assert tested.status_code == 200, tested.text
            assert "The connection does not work." in tested.text, issuer
            assert said in tested.text, (issuer, tested.text)
            no_stack_trace(tested)
            assert "login.elsewhere.example" not in tested.text
        bare = await press_test_connection(browser, f"{base}/bare")
    assert "sign-in (authorization_endpoint)" in bare.text and "jwks_uri" in bare.text
    wrong = await press_test_connection(browser, "ftp://files.example.org")
    assert wrong.status_code == 422 and "Enter the issuer" in wrong.text


async def test_turning_it_on_needs_a_complete_setup(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    browser = await open_browser()
    _, slug = await run_by(browser, database)  # no e-mail domains
    no_domains = await save_sso(browser, provider.issuer)
    assert no_domains.status_code == 422
    assert "List the organisation&#39;s e-mail domains" in no_domains.text
    no_secret = await save_sso(browser, provider.issuer, secret="", enabled=False)
    assert no_secret.status_code == 303  # off: a partial setup may be saved
    await post_on_page(
        browser,
        f"{ORGANISATION}/settings",
        {"name": "Acme Research", "email_domains": fresh_domain(), "seats": ""},
    )
    still_no_secret = await save_sso(browser, provider.issuer, secret="")
    assert still_no_secret.status_code == 422 and "Enter the client secret" in still_no_secret.text
    assert not (await tenant_row(database, slug)).sso_enabled


# Signing in through it ------------------------------------------------------------------------


async def test_a_new_person_at_the_domain_signs_in_through_the_provider_and_joins(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    sub, email = subject(), f"lin-{uuid.uuid4().hex[:6]}@{domain}"
    # No email_verified claim: the organisation's provider vouches for its own domains.
    provider.set_user(sub, {"email": email, "name": "Lin Chen"})
    browser = await open_browser()
    answer = await through_provider(
        browser, provider, slug, email.upper(), sub, next_url="/hub/user-redirect/lab"
    )
    # A new account completes its profile first, then goes on to where it was going.
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{PAGES}/profile?next=%2Fhub%2Fuser-redirect%2Flab"
    account = await account_with(database, email)
    assert account is not None and account.email_verified_at is not None
    assert account.display_name == "Lin Chen" and account.password_hash is None
    assert await membership(database, account) == (slug, "member")
    identity = await identity_of(database, slug, sub)
    assert identity is not None and identity.account_id == account.id
    profile = await browser.get(answer.headers["location"])
    assert profile.status_code == 200, profile.text

    # Again, in another browser: the same account, still one membership.
    other = await open_browser()
    second = await through_provider(other, provider, slug, email, sub)
    assert second.status_code == 303, second.text
    async with database.sessionmaker() as session:
        methods = (
            await session.scalars(
                select(AccountSession.method).where(AccountSession.account_id == account.id)
            )
        ).all()
    assert methods == [f"org-{slug}", f"org-{slug}"]
    assert await membership(database, account) == (slug, "member")


async def test_an_existing_member_at_the_domain_is_signed_in_and_linked(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, smtp: SmtpServer
) -> None:
    # A member since before the organisation used single sign-on.
    admin_browser = await open_browser()
    domain = fresh_domain()
    _, slug = await run_by(admin_browser, database, email_domains=domain)
    member = await person_at(database, f"mo-{uuid.uuid4().hex[:6]}@{domain}")
    assert member.email is not None
    await invite_on_page(admin_browser, member.email)
    member_browser = await open_browser()
    link = mailed_invitation(smtp, member.email)
    await sign_in_to(member_browser, member, link)
    joined = await join_on_link(member_browser, link)
    assert joined.status_code == 303, joined.text
    assert (await save_sso(admin_browser, provider.issuer)).status_code == 303
    assert (await approve_by_api(open_browser, slug, [domain])).status_code == 200
    # From now on their address goes to the organisation's provider, password or not.
    routed = await sign_in_form(await open_browser(), member.email, password=PASSWORD)
    assert urlsplit(sso_start_of(routed)).path == f"{PAGES}/external/org-{slug}/start"

    sub = subject()
    provider.set_user(sub, {"email": member.email, "email_verified": True, "name": "Mo"})
    browser = await open_browser()
    answer = await through_provider(
        browser, provider, slug, member.email, sub, next_url="/hub/user-redirect/lab"
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/hub/user-redirect/lab"
    identity = await identity_of(database, slug, sub)
    assert identity is not None and identity.account_id == member.id
    assert await membership(database, member) == (slug, "member")


async def test_an_account_outside_the_organisation_confirms_by_mail_first(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, smtp: SmtpServer
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    owner = await person_at(database, f"owner-{uuid.uuid4().hex[:6]}@{domain}")
    assert owner.email is not None
    sub = subject()
    provider.set_user(sub, {"email": owner.email, "email_verified": True})
    browser = await open_browser()
    answer = await through_provider(browser, provider, slug, owner.email, sub)
    # The organisation's admins choose its domains: they do not get to sign in to an
    # account that is not in the organisation. Its owner confirms the link by mail.
    assert answer.status_code == 200, answer.text
    assert "Check your mail" in answer.text
    assert await identity_of(database, slug, sub) is None
    [mail] = smtp.inbox.to(owner.email)
    [url] = [link for link in mail.links() if "/accounts/link?" in link]
    confirm = await browser.get(link_path(url))
    done = await browser.post(
        f"{PAGES}/link",
        data={
            "token": parse_qs(urlsplit(url).query)["token"][0],
            "csrf_token": csrf_token(confirm.text),
        },
    )
    assert done.status_code == 303, done.text
    identity = await identity_of(database, slug, sub)
    assert identity is not None and identity.account_id == owner.id


async def test_an_address_outside_the_organisations_domains_is_refused(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    sub, elsewhere = subject(), fresh_email("stranger")
    provider.set_user(sub, {"email": elsewhere, "email_verified": True, "name": "Stranger"})
    browser = await open_browser()
    answer = await through_provider(browser, provider, slug, f"typed@{domain}", sub)
    assert answer.status_code == 403, answer.text
    assert f"Only addresses at {domain} sign in through it" in answer.text
    assert "Grace Hopper" in answer.text
    no_stack_trace(answer)
    assert await account_with(database, elsewhere) is None
    assert await identity_of(database, slug, sub) is None


async def test_a_full_organisation_makes_nobody_an_account_and_names_its_admins(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    admin_browser, _, slug, domain = await organisation_with_sso(
        open_browser, database, provider.issuer
    )
    full = await post_on_page(
        admin_browser,
        f"{ORGANISATION}/settings",
        {"name": "Acme Research", "email_domains": domain, "seats": "1"},
    )
    assert full.status_code == 303, full.text
    sub, email = subject(), f"late-{uuid.uuid4().hex[:6]}@{domain}"
    provider.set_user(sub, {"email": email, "name": "Late Comer"})
    answer = await through_provider(await open_browser(), provider, slug, email, sub)
    assert answer.status_code == 403, answer.text
    assert "has no free seat: 1 of 1 are taken" in answer.text
    assert "Its admins can add seats: ask Grace Hopper" in answer.text
    assert await account_with(database, email) is None


# An issuer that does not answer ----------------------------------------------------------------


async def test_an_issuer_that_does_not_answer_says_so_and_stops_nobody_else(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    _, _, slug, domain = await organisation_with_sso(
        open_browser, database, down, name="Umbrella Labs"
    )
    browser = await open_browser()
    sent = await sign_in_form(browser, f"kim@{domain}", next_url="/hub/home")
    answer = await browser.get(sso_start_of(sent, "Umbrella Labs"))
    assert answer.status_code == 502, answer.text
    assert "Umbrella Labs&#39;s sign-in service does not answer" in answer.text
    assert "Try again later, or ask its admins (Grace Hopper)" in answer.text
    no_stack_trace(answer)
    assert f"{PAGES}/sign-in?next=%2Fhub%2Fhome" in answer.text  # another way in

    # Someone else signs in with a password meanwhile.
    other = await create_person(database)
    assert other.email is not None
    elsewhere = await open_browser()
    assert await sign_in_to(elsewhere, other, "/hub/home") == "/hub/home"
    # A wrong password elsewhere is still just a wrong password.
    wrong = await sign_in_form(await open_browser(), other.email, password="not-it")
    assert wrong.status_code == 401
    # And another organisation's single sign-on works.
    _, _, other_slug, other_domain = await organisation_with_sso(
        open_browser, database, provider.issuer
    )
    sub, email = subject(), f"ok-{uuid.uuid4().hex[:6]}@{other_domain}"
    provider.set_user(sub, {"email": email})
    fine = await through_provider(await open_browser(), provider, other_slug, email, sub)
    assert fine.status_code == 303, fine.text
    assert await identity_of(database, other_slug, sub) is not None
    # The organisation whose issuer is down kept its settings; nobody joined it.
    assert (await tenant_row(database, slug)).sso_issuer == down


# Who may see and change it ---------------------------------------------------------------------


async def test_only_the_organisations_admins_see_or_change_its_single_sign_on(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, smtp: SmtpServer
) -> None:
    admin_browser, _, slug, _ = await organisation_with_sso(open_browser, database, provider.issuer)
    # Another organisation's admin sees and changes their own organisation's only.
    rival_browser = await open_browser()
    _, rival_slug = await run_by(rival_browser, database, email_domains=fresh_domain())
    rival_page = await rival_browser.get(SSO)
    assert rival_page.status_code == 200
    assert (
        provider.issuer not in rival_page.text and f"org-{rival_slug}/callback" in rival_page.text
    )
    changed = await save_sso(rival_browser, "https://login.rival.example", enabled=False)
    assert changed.status_code == 303
    assert (await tenant_row(database, slug)).sso_issuer == provider.issuer
    assert (await tenant_row(database, rival_slug)).sso_issuer == "https://login.rival.example"

    # A plain member of the organisation: refused, with why.
    member = await create_person(database)
    assert member.email is not None
    await invite_on_page(admin_browser, member.email)
    member_browser = await open_browser()
    link = mailed_invitation(smtp, member.email)
    await sign_in_to(member_browser, member, link)
    assert (await join_on_link(member_browser, link)).status_code == 303
    refused = await member_browser.get(SSO)
    assert refused.status_code == 403
    assert "Only the admins of Acme Research can set up its single sign-on" in refused.text
    assert provider.issuer not in refused.text
    shown = await member_browser.get(ORGANISATION)
    forged = await member_browser.post(
        SSO,
        data={
            "issuer": "https://evil.example",
            "client_id": "x",
            "client_secret": "y",
            "enabled": "yes",
            "action": "save",
            "csrf_token": csrf_token(shown.text),
        },
    )
    assert forged.status_code == 403
    tested = await member_browser.post(
        SSO,
        data={"issuer": provider.issuer, "action": "test", "csrf_token": csrf_token(shown.text)},
    )
    assert tested.status_code == 403 and "The connection works" not in tested.text
    tenant = await tenant_row(database, slug)
    assert tenant.sso_issuer == provider.issuer and tenant.sso_client_id == "datazentr"

    # Someone in no organisation; and someone signed out goes to the sign-in page.
    loner = await create_person(database)
    loner_browser = await open_browser()
    await sign_in_to(loner_browser, loner, SSO)
    alone = await loner_browser.get(SSO)
    assert alone.status_code == 403 and "You are in no organisation" in alone.text
    signed_out = await (await open_browser()).get(SSO)
    assert signed_out.status_code == 303 and "/sign-in" in signed_out.headers["location"]


# A platform admin approves each domain ---------------------------------------------------------


async def straight_to_provider(
    browser: httpx.AsyncClient, provider: OidcMock, slug: str, sub: str
) -> httpx.Response:
    """Start at the organisation's provider without the sign-in page (as a crafted link
    would), sign in there as ``sub`` and come back: the api's answer."""
    answer = await browser.get(f"{PAGES}/external/org-{slug}/start?next=%2Fhub%2Fhome")
    assert answer.status_code == 303, answer.text
    return await come_back(browser, await provider.sign_in(answer.headers["location"], sub))


async def tenant_events(database: Database, slug: str, type: str) -> list[Event]:
    async with database.scoped(PLATFORM) as session:
        return list(
            await session.scalars(
                select(Event).where(Event.stream == f"tenant:{slug}", Event.type == type)
            )
        )


async def test_an_unapproved_domain_is_not_sent_to_the_provider_and_its_answer_is_refused(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    admin_browser = await open_browser()
    domain = fresh_domain()
    _, slug = await run_by(admin_browser, database, email_domains=domain)
    assert (await save_sso(admin_browser, provider.issuer)).status_code == 303
    shown = await admin_browser.get(SSO)
    assert f"Waiting for a platform admin to approve single sign-on for {domain}" in shown.text
    assert f"Until then nobody at {domain} is sent to the provider" in shown.text

    # The sign-in page treats the address as any other: a password signs in.
    person = await person_at(database, f"ana-{uuid.uuid4().hex[:6]}@{domain}")
    assert person.email is not None
    answer = await sign_in_form(await open_browser(), person.email, password=PASSWORD)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/hub/home"
    wrong = await sign_in_form(await open_browser(), f"nobody@{domain}", password="not-it")
    assert wrong.status_code == 401 and "Sign in with Acme Research" not in wrong.text

    # Reached directly, the provider's answer for an address there makes nobody an account.
    sub, email = subject(), f"new-{uuid.uuid4().hex[:6]}@{domain}"
    provider.set_user(sub, {"email": email, "name": "New Comer"})
    refused = await straight_to_provider(await open_browser(), provider, slug, sub)
    assert refused.status_code == 403, refused.text
    assert f"no platform admin has approved single sign-on for {domain} yet" in refused.text
    no_stack_trace(refused)
    assert await account_with(database, email) is None
    assert await identity_of(database, slug, sub) is None


async def test_a_platform_admin_approves_a_domain_on_the_organisations_page(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    org_browser = await open_browser()
    domain = fresh_domain()
    _, slug = await run_by(org_browser, database, email_domains=domain, name="Initech Labs")
    assert (await save_sso(org_browser, provider.issuer)).status_code == 303
    email = f"joy-{uuid.uuid4().hex[:6]}@{domain}"
    assert (await sign_in_form(await open_browser(), email)).status_code == 401

    platform_admin = await person_with_password(database, role="platform_admin")
    browser = await open_browser()
    await sign_in_to(browser, platform_admin, ADMIN_ORGANISATIONS)
    accounts = await browser.get(f"{PAGES}/admin")
    assert f'href="{ADMIN_ORGANISATIONS}"' in accounts.text  # linked from the accounts page
    listed = await browser.get(ADMIN_ORGANISATIONS)
    assert listed.status_code == 200, listed.text
    row = listed.text.split(f'id="organisation-{slug}"', 1)[1].split("</tr>", 1)[0]
    assert "Initech Labs" in row and "company" in row and provider.issuer in row
    assert f'data-domain="{domain}"' in row and "not approved" in row
    assert f"Approve single sign-on for {domain}" in row

    form = f"{ADMIN_ORGANISATIONS}/{slug}/sso-domains"
    fields = {"domain": domain, "action": "approve"}
    approved = await submit(browser, form, fields, page=ADMIN_ORGANISATIONS)
    assert approved.status_code == 303, approved.text
    notice = await browser.get(approved.headers["location"])
    assert f"Single sign-on is approved for {domain}" in notice.text
    row = notice.text.split(f'id="organisation-{slug}"', 1)[1].split("</tr>", 1)[0]
    assert f"Revoke single sign-on for {domain}" in row
    assert f"approvals changed by {platform_admin.username}" in row
    tenant = await tenant_row(database, slug)
    assert tenant.sso_approved_domains == [domain]
    assert tenant.sso_approved_by == platform_admin.username and tenant.sso_approved_at
    [event] = await tenant_events(database, slug, "tenant.sso_domains_approved")
    assert event.actor == platform_admin.username and event.payload["approved"] == [domain]

    # Now the address goes to the organisation's provider, and its page says so.
    routed = await sign_in_form(await open_browser(), email)
    assert urlsplit(sso_start_of(routed, "Initech Labs")).path == (
        f"{PAGES}/external/org-{slug}/start"
    )
    shown = await org_browser.get(SSO)
    assert "Waiting for a platform admin" not in shown.text
    assert f"people at {domain} are sent to the provider" in shown.text

    # Revoked: the sign-in page treats the address as any other again.
    revoked = await submit(
        browser, form, {"domain": domain, "action": "revoke"}, page=ADMIN_ORGANISATIONS
    )
    assert revoked.status_code == 303, revoked.text
    assert (await tenant_row(database, slug)).sso_approved_domains == []
    assert (await sign_in_form(await open_browser(), email)).status_code == 401


async def test_the_api_approves_only_the_organisations_own_domains(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    browser = await open_browser()
    domain = fresh_domain()
    _, slug = await run_by(browser, database, email_domains=domain)
    refused = await approve_by_api(open_browser, slug, [domain, "gmail.com"])
    assert refused.status_code == 422, refused.text
    assert "gmail.com is not one of Acme Research's e-mail domains" in refused.text
    assert (await tenant_row(database, slug)).sso_approved_domains == []
    missing = await approve_by_api(open_browser, f"no-{uuid.uuid4().hex[:8]}", [domain])
    assert missing.status_code == 404, missing.text

    approved = await approve_by_api(open_browser, slug, [domain.upper()])
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["sso_approved_domains"] == [domain] and body["sso_approved_by"] == "root"
    assert body["sso_approved_at"] is not None
    [event] = await tenant_events(database, slug, "tenant.sso_domains_approved")
    assert event.actor == "root" and event.payload["domains"] == [domain]

    # Another organisation listing the same domain cannot have it approved as well.
    rival = await open_browser()
    _, rival_slug = await run_by(rival, database, email_domains=domain)
    taken = await approve_by_api(open_browser, rival_slug, [domain])
    assert taken.status_code == 422, taken.text
    assert f"{domain} is approved for single sign-on through Acme Research" in taken.text
    assert (await tenant_row(database, rival_slug)).sso_approved_domains == []


async def test_an_organisation_admin_who_is_no_platform_admin_cannot_approve(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    browser = await open_browser()
    domain = fresh_domain()
    admin, slug = await run_by(browser, database, email_domains=domain)
    assert (await save_sso(browser, provider.issuer)).status_code == 303
    by_api = await approve_by_api(open_browser, slug, [domain], who=admin.username)
    assert by_api.status_code == 403, by_api.text
    page = await browser.get(ADMIN_ORGANISATIONS)
    assert page.status_code == 403 and "Only the platform's admins" in page.text
    shown = await browser.get(SSO)
    forged = await browser.post(
        f"{ADMIN_ORGANISATIONS}/{slug}/sso-domains",
        data={"domain": domain, "action": "approve", "csrf_token": csrf_token(shown.text)},
    )
    assert forged.status_code == 403, forged.text
    assert (await tenant_row(database, slug)).sso_approved_domains == []
    assert (await sign_in_form(await open_browser(), f"x@{domain}")).status_code == 401


async def test_a_domain_removed_from_the_organisations_domains_loses_its_approval(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    browser = await open_browser()
    kept, dropped = fresh_domain(), fresh_domain()
    _, slug = await run_by(browser, database, email_domains=f"{kept} {dropped}")
    assert (await save_sso(browser, provider.issuer)).status_code == 303
    assert (await approve_by_api(open_browser, slug, [kept, dropped])).status_code == 200
    settings_form = f"{ORGANISATION}/settings"
    only_kept = {"name": "Acme Research", "email_domains": kept, "seats": ""}
    assert (await post_on_page(browser, settings_form, only_kept)).status_code == 303
    assert (await tenant_row(database, slug)).sso_approved_domains == [kept]
    # Listed again, it waits for a platform admin again.
    both = {**only_kept, "email_domains": f"{kept}, {dropped}"}
    assert (await post_on_page(browser, settings_form, both)).status_code == 303
    assert (await tenant_row(database, slug)).sso_approved_domains == [kept]
    assert (await sign_in_form(await open_browser(), f"y@{dropped}")).status_code == 401
    routed = await sign_in_form(await open_browser(), f"y@{kept}")
    assert urlsplit(sso_start_of(routed)).path == f"{PAGES}/external/org-{slug}/start"
    shown = await browser.get(SSO)
    assert f"Waiting for a platform admin to approve single sign-on for {dropped}" in shown.text


# The organisation's provider and who it signs in --------------------------------------------


async def newcomer_through(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, slug: str, domain: str
) -> tuple[Account, str]:
    """A person new here who signs in through the organisation's provider: their account
    (a member, the identity linked) and their subject."""
    sub, email = subject(), f"new-{uuid.uuid4().hex[:6]}@{domain}"
    provider.set_user(sub, {"email": email, "name": "Nell"})
    answer = await through_provider(await open_browser(), provider, slug, email, sub)
    assert answer.status_code == 303, answer.text
    account = await account_with(database, email)
    assert account is not None
    assert await membership(database, account) == (slug, "member")
    assert await identity_of(database, slug, sub) is not None
    return account, sub


async def test_a_changed_issuer_unlinks_the_identities_of_the_old_one(
    open_browser: OpenBrowser, database: Database, provider: OidcMock
) -> None:
    admin_browser, _, slug, domain = await organisation_with_sso(
        open_browser, database, provider.issuer
    )
    account, sub = await newcomer_through(open_browser, database, provider, slug, domain)
    # Another provider (one the organisation's admins run, say) would name subjects as it
    # pleases: none of the old provider's links may sign anyone in through it.
    with oidc_mock() as other:
        saved = await save_sso(admin_browser, other.issuer)
        assert saved.status_code == 303, saved.text
        shown = await admin_browser.get(saved.headers["location"])
        assert "each member confirms the link again on their next sign-in" in shown.text
        assert await identity_of(database, slug, sub) is None
        # The same subject at the new provider, with another member's... any address: not
        # the account the old link named.
        other.set_user(sub, {"email": account.email, "name": "Nell"})
        again = await through_provider(await open_browser(), other, slug, str(account.email), sub)
        # A member with the address: signed in and linked again (rule 3).
        assert again.status_code == 303, again.text
    relinked = await identity_of(database, slug, sub)
    assert relinked is not None and relinked.account_id == account.id
    # A new client id at the same issuer unlinks too; the same settings again do not.
    assert (await save_sso(admin_browser, other.issuer, client_id="another")).status_code == 303
    assert await identity_of(database, slug, sub) is None


async def test_a_linked_identity_of_someone_no_longer_a_member_confirms_by_mail(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, smtp: SmtpServer
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    account, sub = await newcomer_through(open_browser, database, provider, slug, domain)
    assert account.email is not None
    # They left the organisation (and are in another, or in none).
    async with database.scoped(PLATFORM) as session:
        await session.execute(
            update(UserProfile)
            .where(UserProfile.hub_name == account.username)
            .values(tenant_id=None, tenant_role=None)
        )
        await session.commit()
    assert await membership(database, account) == (None, None)
    browser = await open_browser()
    answer = await through_provider(browser, provider, slug, account.email, sub)
    assert answer.status_code == 200, answer.text
    assert "Check your mail" in answer.text
    [mail] = smtp.inbox.to(account.email)
    assert any("/accounts/link?" in link for link in mail.links())
    assert await membership(database, account) == (None, None)


async def test_a_platform_admin_is_never_signed_in_by_an_organisations_provider(
    open_browser: OpenBrowser, database: Database, provider: OidcMock, smtp: SmtpServer
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    account, sub = await newcomer_through(open_browser, database, provider, slug, domain)
    assert account.email is not None
    # A member, linked, and a platform admin.
    async with database.scoped(PLATFORM) as session:
        await session.execute(
            update(Account).where(Account.id == account.id).values(role="platform_admin")
        )
        await session.commit()
    answer = await through_provider(await open_browser(), provider, slug, account.email, sub)
    assert answer.status_code == 200, answer.text
    assert "Check your mail" in answer.text
    [mail] = smtp.inbox.to(account.email)
    assert any("/accounts/link?" in link for link in mail.links())


async def test_an_address_listed_as_a_platform_admins_gets_no_account_through_it(
    org_settings: Settings, database: Database, provider: OidcMock, open_browser: OpenBrowser
) -> None:
    _, _, slug, domain = await organisation_with_sso(open_browser, database, provider.issuer)
    email = f"boss-{uuid.uuid4().hex[:6]}@{domain}"
    listed = org_settings.model_copy(update={"admin_users": frozenset({email})})
    sub = subject()
    provider.set_user(sub, {"email": email})
    async with organisation_browser(listed) as browser:
        answer = await through_provider(browser, provider, slug, email, sub)
    assert answer.status_code == 403, answer.text
    assert "a platform admin&#39;s address" in answer.text or "platform admin's address" in (
        html.unescape(answer.text)
    )
    assert await account_with(database, email) is None


# Which issuers the platform contacts -------------------------------------------------------


async def test_without_private_issuers_allowed_loopback_and_private_ones_are_refused(
    org_settings: Settings, database: Database, provider: OidcMock
) -> None:
    closed = org_settings.model_copy(update={"sso_allow_private_issuers": False})
    async with organisation_browser(closed) as browser:
        await run_by(browser, database, email_domains=fresh_domain())
        # Plain http, even on this machine.
        plain = await press_test_connection(browser, provider.issuer)
        assert plain.status_code == 422, plain.text
        assert "must start with https://" in html.unescape(plain.text)
        cases = {
            f"https://127.0.0.1:{free_port()}": "127.0.0.1",
            "https://localhost": "127.0.0.1",
            "https://10.20.30.40/realms/staff": "10.20.30.40",
            "https://[fd00::1]": "fd00::1",
            "https://169.254.169.254": "169.254.169.254",
        }
        for issuer, address in cases.items():
            for answer in (
                await press_test_connection(browser, issuer),
                await save_sso(browser, issuer),
            ):
                text = html.unescape(answer.text)
                assert answer.status_code == 422, (issuer, text)
                assert "a loopback or private-network address" in text, (issuer, text)
                assert address in text, (issuer, text)
                no_stack_trace(answer)
