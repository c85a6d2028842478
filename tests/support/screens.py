"""The account pages in chromium on a desktop and a phone-sized screen: a browser context per
person (from a client address of its own, nothing fetched from other sites), checks every page
must pass (fits the screen, one heading, every control labelled), screenshots, and database
work from a test that Playwright's sync API runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account
from tests.support.accounts import PAGES, PASSWORD, create_person, random_client_address
from tests.support.artifacts import artifact_path
from tests.support.waiting import PATIENCE_SECONDS

T = TypeVar("T")
PATIENCE_MS = PATIENCE_SECONDS * 1000
# A page may take a while on a busy machine (an import mails every person before it answers):
# every wait, and every ``expect`` of these tests, is this patient.
expect.set_options(timeout=PATIENCE_MS)

SCREENS = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}

# Controls a person cannot name: no <label>, no aria-label(ledby), a button with no text.
_UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
    && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML.slice(0, 160))"""


def open_screen(chromium: Browser, screen: str, *, local: tuple[str, ...] = ()) -> Page:
    """A new browser (its own cookies) with the ``screen``'s viewport, from a client address
    of its own (the api trusts ``X-Forwarded-For`` from loopback, as behind the proxy), so
    its sign-ins and mails never count against another test's limits.

    Requests to hosts other than 127.0.0.1 (say, a provider page's CDN stylesheet) fail at
    once instead of waiting for a network this machine does not have."""
    context = chromium.new_context(
        viewport=SCREENS[screen],  # type: ignore[arg-type]
        extra_http_headers={"X-Forwarded-For": random_client_address()},
    )
    allowed = ("127.0.0.1", *local)

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in allowed:
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_loopback)
    context.set_default_timeout(PATIENCE_MS)
    return context.new_page()


def fits(page: Page) -> bool:
    """Nothing wider than the screen (no sideways scrolling)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return page.viewport_size is not None and width <= page.viewport_size["width"]


def unlabelled_controls(page: Page) -> list[str]:
    found: list[str] = page.evaluate(_UNLABELLED)
    return found


def check_page(page: Page, name: str, screen: str, *, heading: str | None = None) -> None:
    """The page has one main heading (``heading`` if given), every control is labelled, it
    fits the screen; its screenshot goes to test-artifacts/accounts-<name>-<screen>.png."""
    h1 = page.locator("h1")
    if heading is not None:
        # First, so the page is the one that follows a click, not the one before it.
        expect(h1).to_have_text(heading)
    else:
        page.wait_for_load_state()
    expect(h1).to_have_count(1)
    assert unlabelled_controls(page) == [], f"{name}: controls without a label"
    page.screenshot(path=artifact_path(f"accounts-{name}-{screen}.png"), full_page=True)
    assert fits(page), f"{name} is wider than the {screen} screen"


def arrive(page: Page, url: str) -> None:
    """Wait for the browser to reach ``url``; if it never does, say where it is instead."""
    try:
        page.wait_for_url(url)
    except PlaywrightTimeout:
        text = page.locator("body").inner_text()[:1500] if page.locator("body").count() else ""
        raise AssertionError(f"never reached {url}; at {page.url}:\n{text}") from None


def sign_in_with_password(page: Page, site: str, email: str, next_path: str) -> None:
    """The sign-in page's password form, as a person fills it in."""
    page.goto(f"{site}{PAGES}/sign-in?next={next_path}")
    page.get_by_label("E-mail address or user name").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{site}{next_path}")


def run_async(work: Awaitable[T]) -> T:
    """Run ``work`` to its end on a loop of its own (Playwright's sync API keeps a loop
    running in the test's thread, so asyncio.run cannot be used there)."""

    async def main() -> T:
        return await work

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def in_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """``work`` on a connection to the settings' database, from a sync test."""

    async def main() -> T:
        database = Database(settings.sqlalchemy_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return run_async(main())


def person_with_password(
    settings: Settings, *, role: str = "developer", display_name: str = "Ada Lovelace"
) -> Account:
    """A verified account with the test password whose profile is complete."""
    return in_database(
        settings, lambda database: create_person(database, role=role, display_name=display_name)
    )
