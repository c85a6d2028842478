"""The platform admins' pages in tests: a person with a password, signed in on a browser, and
the forms of the admin pages sent with their tokens."""

from __future__ import annotations

import html
import re

import httpx

from api.accounts.passwords import hash_password
from api.core import migrate
from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account
from tests.support.accounts import PAGES, PASSWORD, create_account, csrf_token, sign_in, submit
from tests.support.database import app_url

ADMIN = f"{PAGES}/admin"
IMPORT = f"{ADMIN}/import"
_HIDDEN_CSV = re.compile(r'<input type="hidden" name="csv" value="([^"]*)">')


async def person_with_password(
    database: Database, *, role: str = "developer", email: str | None = None, verified: bool = True
) -> Account:
    return await create_account(
        database,
        password_hash=await hash_password(PASSWORD),
        role=role,
        email=email,
        verified=verified,
    )


async def signed_in_admin(browser: httpx.AsyncClient, database: Database) -> Account:
    admin = await person_with_password(database, role="platform_admin")
    await sign_in(browser, admin)
    return admin


def account_page(account: Account) -> str:
    return f"{ADMIN}/accounts/{account.id}"


async def act(
    browser: httpx.AsyncClient, account: Account, action: str, **fields: str
) -> httpx.Response:
    """Send one of the account page's forms (``disable``, ``role``, ``plan``…)."""
    return await submit(
        browser, f"{account_page(account)}/{action}", fields, page=account_page(account)
    )


async def send_import(
    browser: httpx.AsyncClient,
    csv: str,
    *,
    action: str = "check",
    as_file: bool = False,
    form: str = IMPORT,
) -> httpx.Response:
    """The import form at ``form`` (the platform admins' by default) with ``csv`` pasted
    (or uploaded as a file), as multipart like a browser sends it."""
    shown = await browser.get(form)
    assert shown.status_code == 200, shown.text
    data = {"csrf_token": csrf_token(shown.text), "action": action}
    if as_file:
        files = {"csv_file": ("class.csv", csv.encode(), "text/csv")}
    else:
        data["csv"] = csv
        files = {"csv_file": ("", b"", "application/octet-stream")}
    return await browser.post(form, data=data, files=files)


async def import_checked(
    browser: httpx.AsyncClient, report: httpx.Response, *, form: str = IMPORT
) -> httpx.Response:
    """Press the report's Import button (it sends the checked rows again)."""
    match = _HIDDEN_CSV.search(report.text)
    assert match, "the report has no Import button"
    return await send_import(browser, html.unescape(match.group(1)), action="import", form=form)


def on_own_database(settings: Settings, database_url: str) -> tuple[Settings, Database]:
    """``settings`` on a migrated database of their own (say, a test's scratch database),
    where no other test's admins count. The caller disposes of the ``Database``."""
    migrate.upgrade(database_url)
    return settings.model_copy(update={"database_url": database_url}), Database(
        app_url(database_url)
    )
