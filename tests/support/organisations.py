"""Organisations for tests: the organisation pages in this process, and the steps a person
takes on them (create, invite, open the mailed link), plus reads of who belongs where."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Mount

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM, person_scope
from api.main import create_app
from api.models import Account, Tenant, UserProfile
from api.organisations import pages as organisation_pages
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    create_person,
    csrf_token,
    random_client_address,
    submit,
)
from tests.support.identity import AnyUserIdentity
from tests.support.smtp import SmtpServer

ORGANISATION = f"{PAGES}/organisation"
# Opens another signed-out browser (the organisation tests' fixture).
OpenBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


def with_organisation_pages(app: FastAPI) -> None:
    """The organisation pages in the api's app, if it does not serve them already."""
    inner = next(route.app for route in app.routes if isinstance(route, Mount))
    assert isinstance(inner, FastAPI)
    if not any(getattr(r, "path", "") == "/accounts/organisation" for r in inner.routes):
        inner.include_router(organisation_pages.router)


@asynccontextmanager
async def organisation_browser(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-out browser on the account pages (redirects not followed)."""
    app = create_app(settings, identity=AnyUserIdentity())
    with_organisation_pages(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(random_client_address(), 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hub", timeout=120
        ) as client:
            yield client


async def sign_in_to(client: httpx.AsyncClient, account: Account, next_url: str) -> str:
    """Sign in with the test password; where the sign-in page sends the browser."""
    assert account.email is not None
    answer = await submit(
        client,
        f"{PAGES}/sign-in",
        {"email": account.email, "password": PASSWORD, "next": next_url, "action": "password"},
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


async def post_on_page(
    client: httpx.AsyncClient, path: str, data: dict[str, str] | None = None
) -> httpx.Response:
    """Send one of the organisation page's forms (its token read from the page)."""
    return await submit(client, path, data or {}, page=ORGANISATION)


async def create_on_page(
    client: httpx.AsyncClient,
    *,
    name: str = "Acme Research",
    slug: str | None = None,
    kind: str = "company",
    email_domains: str = "",
) -> tuple[httpx.Response, str]:
    slug = slug or f"acme-{uuid.uuid4().hex[:8]}"
    answer = await post_on_page(
        client,
        ORGANISATION,
        {"name": name, "slug": slug, "kind": kind, "email_domains": email_domains},
    )
    return answer, slug


def mailed_invitation(smtp: SmtpServer, email: str) -> str:
    """The path of the invitation link in the latest mail to ``email``."""
    mails = smtp.inbox.to(email)
    assert mails, f"no mail to {email}"
    [link] = [link for link in mails[-1].links() if "/organisation/invitations/" in link]
    parts = urlsplit(link)
    assert parts.netloc == "hub", link
    return parts.path


async def join_on_link(client: httpx.AsyncClient, path: str) -> httpx.Response:
    shown = await client.get(path)
    assert shown.status_code == 200, shown.text
    return await client.post(path, data={"csrf_token": csrf_token(shown.text)})


@asynccontextmanager
async def person_session(database: Database, account: Account) -> AsyncIterator[AsyncSession]:
    """A session in a person's scope, as a page handler has it."""
    async with database.sessionmaker() as session:
        await person_scope(session, account.username)
        yield session


async def membership(database: Database, account: Account) -> tuple[str | None, str | None]:
    """The slug of the person's organisation and their role in it."""
    async with database.scoped(PLATFORM) as session:
        row = (
            await session.execute(
                select(Tenant.slug, UserProfile.tenant_role)
                .select_from(UserProfile)
                .outerjoin(Tenant, Tenant.id == UserProfile.tenant_id)
                .where(UserProfile.hub_name == account.username)
            )
        ).first()
    return (row[0], row[1]) if row else (None, None)


async def run_by(
    client: httpx.AsyncClient, database: Database, **organisation: str
) -> tuple[Account, str]:
    """A new person signed in on ``client`` who creates an organisation; them and its slug."""
    admin = await create_person(database, display_name="Grace Hopper")
    await sign_in_to(client, admin, "/hub/")
    answer, slug = await create_on_page(client, **organisation)
    assert answer.status_code == 303, answer.text
    return admin, slug


async def invite_on_page(
    client: httpx.AsyncClient, email: str, role: str = "member"
) -> httpx.Response:
    return await post_on_page(client, f"{ORGANISATION}/invitations", {"email": email, "role": role})
