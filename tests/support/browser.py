"""Debian's chromium for the browser tests (Playwright), and signing in as a person does."""

from __future__ import annotations

import shutil

from playwright.sync_api import Page

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
    """Sign in on the login page as a person does, and land on the hub home."""
    page.goto(f"{url}/hub/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{url}/hub/home")
