"""Accounts for tests: made directly in the database, or through the account pages
(an in-process browser that reads form tokens and follows mailed links)."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx

from api.accounts.passwords import hash_password
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.core.config import Settings
from api.core.db import Database
from api.main import create_app
from api.models.account import Account
from tests.support.identity import AnyUserIdentity
from tests.support.smtp import SmtpServer

# The account pages, as the proxy routes them.
PAGES = ACCOUNTS_PREFIX.rstrip("/")
# A password every check accepts (long, not common, not the person's name or address).
PASSWORD = "plum-tiger-sextant-41"


def fresh_email(tag: str = "person") -> str:
    """An address no other test uses."""
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.org"


async def create_account(
    database: Database,
    *,
    email: str | None = None,
    password_hash: str | None = None,
    verified: bool = True,
    role: str = "developer",
    display_name: str = "Test Person",
) -> Account:
    """A committed account with a unique username (``t-<hex>``) and e-mail."""
    now = datetime.now(UTC)
    account = Account(
        id=uuid.uuid4(),
        username=f"t-{uuid.uuid4().hex[:12]}",
        email=email or fresh_email(),
        email_verified_at=now if verified else None,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
        terms_accepted_at=now,
        session_epoch=0,
    )
    async with database.sessionmaker() as session:
        session.add(account)
        await session.commit()
    return account


async def create_person(
    database: Database,
    *,
    with_password: bool = True,
    verified: bool = True,
    role: str = "developer",
    display_name: str = "Ada Lovelace",
) -> Account:
    """An account as a person has it once they have been here: its profile complete, with
    the test password (or none: an account that signs in by mailed link or a provider)."""
    account = await create_account(
        database,
        password_hash=await hash_password(PASSWORD) if with_password else None,
        verified=verified,
        role=role,
        display_name=display_name,
    )
    async with database.sessionmaker() as session:
        row = await session.get(Account, account.id)
        assert row is not None
        row.profile_completed_at = row.created_at
        await session.commit()
        return row


async def stored_account(database: Database, account: Account) -> Account:
    """The account as the database has it now."""
    async with database.sessionmaker() as session:
        row = await session.get(Account, account.id)
        assert row is not None
        return row


# The account pages in this process -------------------------------------------------------

CSRF_PATTERN = re.compile(r'name="csrf_token" value="([^"]+)"')


def random_client_address() -> str:
    """A client address of its own, so one test's failed sign-ins never lock out another's."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def mail_settings(settings: Settings, smtp: SmtpServer, **overrides: object) -> Settings:
    """``settings`` sending mail to the test server (plain SMTP), links on ``http://hub``.

    The hub's OpenID Connect provider stays off (``authenticator`` native): it refuses a
    plain-http address other than this machine's, and the account pages work without it."""
    return settings.model_copy(
        update={
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "public_url": "http://hub",
            "authenticator": "native",
            **overrides,
        }
    )


@asynccontextmanager
async def account_pages(
    settings: Settings, *, client_address: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the api's pages: base URL ``http://hub``, cookies kept, redirects not
    followed (tests look at them), from ``client_address`` (random by default)."""
    app = create_app(settings, identity=AnyUserIdentity())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, client=(client_address or random_client_address(), 50000)
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hub", timeout=120
        ) as client:
            yield client


def csrf_token(html: str) -> str:
    match = CSRF_PATTERN.search(html)
    assert match, "the page has no form token"
    return match.group(1)


async def submit(
    client: httpx.AsyncClient, path: str, data: dict[str, str], *, page: str | None = None
) -> httpx.Response:
    """Open the form's page (``page`` or ``path``), then send the form with its token."""
    shown = await client.get(page or path)
    assert shown.status_code == 200, shown.text
    return await client.post(path, data={**data, "csrf_token": csrf_token(shown.text)})


def link_path(url: str) -> str:
    """A mailed link as a path for the in-process client (``http://hub`` dropped)."""
    parts = urlsplit(url)
    assert parts.netloc == "hub", url
    return f"{parts.path}?{parts.query}"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def sign_in(client: httpx.AsyncClient, account: Account) -> None:
    """Sign in on the sign-in page with the account's address and the test password."""
    assert account.email is not None
    answer = await submit(
        client,
        f"{PAGES}/sign-in",
        {"email": account.email, "password": PASSWORD, "next": "/hub/", "action": "password"},
    )
    assert answer.status_code == 303, answer.text
