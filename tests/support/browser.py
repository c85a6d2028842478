"""Debian's chromium for the browser tests (Playwright), and signing in as a person does."""

from __future__ import annotations

import shutil

from playwright.sync_api import Page

from api.accounts.sessions import SIGN_IN_PATH

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def sign_in(page: Page, url: str, name: str, password: str) -> None:
    """Open the hub's login as a person does, sign in on the platform's page it leads to
    (user name or e-mail, password), and land on the hub home."""
    page.goto(f"{url}/hub/login")
    page.wait_for_url(f"{url}{SIGN_IN_PATH}?**")
    page.fill("input[name=email]", name)
    page.fill("input[name=password]", password)
    page.click("button[value=password]")
    page.wait_for_url(f"{url}/hub/home")
