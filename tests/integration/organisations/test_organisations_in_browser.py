"""An organisation in chromium: its admin creates it, brands it (a logo uploaded, colours),
adds a pattern to its library through the api and invites a member by mail (the test SMTP
server); the member follows the mailed link, joins, and sees the organisation's branding
and library. The admin of another organisation sees neither.

The api is served by uvicorn on loopback; screenshots go to test-artifacts/organisation-*.png.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.main import create_app
from api.models import Account
from tests.support.accounts import PAGES, PASSWORD, create_person, link_path, mail_settings
from tests.support.artifacts import artifact_path
from tests.support.asgi import serve_app
from tests.support.branding import png
from tests.support.identity import AnyUserIdentity, as_user
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

API = "/services/api"
ORGANISATION = f"{PAGES}/organisation"
DESKTOP = {"width": 1280, "height": 900}
TEAL, AMBER = "#0d9488", "#f59e0b"


@pytest.fixture(scope="module")
def site(migrated: Settings, mail_server: SmtpServer) -> Iterator[str]:
    """The api on a loopback port; mailed links name ``http://hub``, the test swaps the host."""
    app = create_app(mail_settings(migrated, mail_server), identity=AnyUserIdentity())
    with serve_app(app, lifespan=True) as url:
        yield url


def people(settings: Settings, *names: str) -> list[Account]:
    """Accounts with the test password and a completed profile, one per name."""

    async def made() -> list[Account]:
        database = Database(settings.app_sqlalchemy_url).in_scope(PLATFORM)
        try:
            return [await create_person(database, display_name=name) for name in names]
        finally:
            await database.dispose()

    # Playwright's loop runs in this thread: the database is used from another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, made()).result()


def screen(chromium: Browser) -> Page:
    return chromium.new_context(viewport=DESKTOP).new_page()  # type: ignore[arg-type]


def sign_in(page: Page, site: str, account: Account, next_path: str) -> None:
    assert account.email is not None
    page.goto(f"{site}{PAGES}/sign-in?next={next_path}")
    page.get_by_label("E-mail address or user name").fill(account.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def create_organisation(page: Page, name: str, slug: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Short name").fill(slug)
    page.get_by_role("button", name="Create organisation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def logo_loaded(page: Page) -> bool:
    """The header's logo is shown, decoded from what the logo endpoint sent."""
    loaded: bool = page.locator("header .brand-logo").evaluate(
        "img => img.complete && img.naturalWidth === 120 && img.naturalHeight === 40"
    )
    return loaded


def header_colour(page: Page) -> str:
    colour: str = page.locator("header .brand").evaluate("a => getComputedStyle(a).color")
    return colour


def tenant_patterns(site: str, account: Account) -> list[str] | None:
    """The titles in the person's organisation's library (None: they are in none)."""
    answer = httpx.get(
        f"{site}{API}/patterns",
        params={"scope": "tenant", "limit": "100"},
        headers=as_user(account.username),
        timeout=60,
    )
    if answer.status_code == 422 and "no tenant" in answer.text:
        return None
    assert answer.status_code == 200, answer.text
    return [item["title"] for item in answer.json()["items"]]


def pattern_status(site: str, account: Account, pattern_id: str) -> int:
    return httpx.get(
        f"{site}{API}/patterns/{pattern_id}", headers=as_user(account.username), timeout=60
    ).status_code


def test_a_member_joins_by_mail_and_sees_the_organisations_branding_and_library(
    chromium: Browser,
    site: str,
    mail_server: SmtpServer,
    migrated: Settings,
    tmp_path: Path,
) -> None:
    admin, member, outsider = people(migrated, "Grace Hopper", "Alan Turing", "Edsger Dijkstra")
    assert member.email is not None
    slug = f"acme-{uuid.uuid4().hex[:6]}"

    # The admin creates the organisation and brands it.
    admin_page = screen(chromium)
    sign_in(admin_page, site, admin, ORGANISATION)
    create_organisation(admin_page, "Acme Research", slug)
    admin_page.get_by_role("link", name="Branding").click()
    expect(admin_page.get_by_role("heading", level=1)).to_have_text("Branding")
    logo = tmp_path / "acme-logo.png"
    logo.write_bytes(png(120, 40, (13, 148, 136)))
    # A wrong file first: the page says what is accepted.
    svg = tmp_path / "acme-logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    admin_page.get_by_label("Logo", exact=True).set_input_files(svg)
    admin_page.get_by_role("button", name="Save branding").click()
    expect(admin_page.get_by_role("alert")).to_contain_text("must be a PNG, JPEG or WebP image")
    admin_page.get_by_label("Name shown to members").fill("Acme Lab")
    admin_page.get_by_label("Logo", exact=True).set_input_files(logo)
    admin_page.get_by_label("Main colour").fill(TEAL)
    admin_page.get_by_label("Accent colour").fill(AMBER)
    admin_page.get_by_role("button", name="Save branding").click()
    expect(admin_page.get_by_role("status")).to_contain_text("The branding was saved")
    expect(admin_page.locator("header .brand")).to_have_text("Acme Lab")
    expect(admin_page.locator(".brand-preview-name")).to_have_text("Acme Lab")
    assert logo_loaded(admin_page)
    assert header_colour(admin_page) == "rgb(13, 148, 136)"
    admin_page.screenshot(path=artifact_path("organisation-branding.png"), full_page=True)

    # Its library gets a pattern only its members see (created through the api).
    title = f"Acme ingestion pipeline {uuid.uuid4().hex[:6]}"
    created = httpx.post(
        f"{site}{API}/patterns",
        json={
            "kind": "snippet",
            "title": title,
            "description": "Reads the lab's instrument exports into a DataFrame.",
            "language": "python",
            "tags": ["acme"],
            "files": [{"path": "ingest.py", "content": "def ingest(path):\n    return path\n"}],
            "visibility": "tenant",
        },
        headers=as_user(admin.username),
        timeout=120,
    )
    assert created.status_code == 201, created.text
    pattern_id = created.json()["id"]

    # The invitation goes by mail; the member follows its link, signs in and joins.
    admin_page.goto(f"{site}{ORGANISATION}")
    admin_page.get_by_label("E-mail address").fill(member.email)
    admin_page.get_by_role("button", name="Send invitation").click()
    expect(admin_page.get_by_role("status")).to_contain_text("The invitation was mailed")
    [mail] = mail_server.inbox.to(member.email)
    [link] = [url for url in mail.links() if "/organisation/invitations/" in url]

    member_page = screen(chromium)
    sign_in(member_page, site, member, f"{PAGES}/settings")
    expect(member_page.locator("header .brand")).to_have_text("DATAZENtr")  # not yet a member
    assert tenant_patterns(site, member) is None
    assert pattern_status(site, member, pattern_id) == 404
    member_page.goto(site + link_path(link))
    member_page.get_by_role("button", name="Join Acme Research").click()
    expect(member_page.get_by_role("status")).to_contain_text("You joined the organisation")
    expect(member_page.locator("header .brand")).to_have_text("Acme Lab")
    assert logo_loaded(member_page)
    assert header_colour(member_page) == "rgb(13, 148, 136)"
    expect(member_page).to_have_title("Acme Research · Acme Lab")
    member_page.screenshot(path=artifact_path("organisation-member.png"), full_page=True)
    assert title in (tenant_patterns(site, member) or [])
    assert pattern_status(site, member, pattern_id) == 200
    # The organisation's library page lists it, in the organisation's branding.
    member_page.get_by_role("link", name="Library and projects").click()
    expect(member_page.get_by_text(title)).to_be_visible()
    expect(member_page.locator("header .brand")).to_have_text("Acme Lab")
    member_page.screenshot(path=artifact_path("organisation-library.png"), full_page=True)

    # The organisation's own sign-in page, as a signed-out visitor sees it.
    visitor = screen(chromium)
    visitor.goto(f"{site}{PAGES}/sign-in?organisation={slug}")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Sign in to Acme Lab")
    assert logo_loaded(visitor)
    visitor.screenshot(path=artifact_path("organisation-sign-in.png"), full_page=True)

    # The admin of another organisation sees neither its branding nor its library.
    outsider_page = screen(chromium)
    sign_in(outsider_page, site, outsider, ORGANISATION)
    create_organisation(outsider_page, "Globex", f"globex-{uuid.uuid4().hex[:6]}")
    expect(outsider_page.locator("header .brand")).to_have_text("DATAZENtr")
    expect(outsider_page.locator("header .brand-logo")).to_have_count(0)
    assert "Acme" not in outsider_page.content()
    assert header_colour(outsider_page) != "rgb(13, 148, 136)"
    assert tenant_patterns(site, outsider) == []
    outsider_page.goto(f"{site}{ORGANISATION}/library")
    expect(outsider_page.get_by_role("heading", level=1)).to_be_visible()
    assert title not in outsider_page.content() and "Acme" not in outsider_page.content()
    assert pattern_status(site, outsider, pattern_id) == 404
    outsider_page.goto(f"{site}{ORGANISATION}/branding")
    expect(outsider_page.locator(".brand-preview-name")).to_have_text("Globex")
    assert "Acme" not in outsider_page.content()
    outsider_page.screenshot(path=artifact_path("organisation-other.png"), full_page=True)
    for page in (admin_page, member_page, visitor, outsider_page):
        page.context.close()
