"""The platform's own sign-in on the running platform: the hub's login goes to the api's
OpenID Connect provider and back, and the hub knows the person as their account says
(name, admin rights, groups); an account whose address is unverified starts no server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import update

from api.accounts.passwords import hash_password
from api.accounts.sessions import SESSION_COOKIE, SIGN_IN_PATH
from api.core.config import Settings
from api.core.db import Database
from api.models.account import Account
from tests.support.accounts import create_account, fresh_email
from tests.support.artifacts import artifact_path
from tests.support.broker import signed_in_cookie
from tests.support.platform import Platform, leftover_processes, start_platform, stop_platform

pytestmark = pytest.mark.slow

T = TypeVar("T")


@pytest.fixture(scope="module")
def brokered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("brokered-platform") / "data"
    data_dir.mkdir()
    running = start_platform(
        data_dir, artifact_path("platform-sign-in.log"), DATAZENTR_AUTHENTICATOR="platform"
    )
    try:
        yield running
    finally:
        code = stop_platform(running)
        leftovers = leftover_processes(running)
        assert code == 0, f"launcher exited with {code}:\n{running.log_tail()}"
        assert not leftovers, f"processes left behind: {leftovers}"


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run database work to its end on a loop of its own (Playwright's sync API keeps a
    loop running in the test's thread, so asyncio.run cannot be used there)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


@dataclass
class Person:
    account: Account
    cookie: str  # the platform session cookie's value


def person(platform: Platform, *, role: str = "developer", verified: bool = True) -> Person:
    """Someone with an account, signed in on the platform's pages in their browser."""
    settings = Settings(_env_file=None, data_dir=platform.data_dir)

    async def make() -> Person:
        database = Database(settings.sqlalchemy_url)
        try:
            account = await create_account(database, role=role, verified=verified)
            header = await signed_in_cookie(settings, database, account)
        finally:
            await database.dispose()
        return Person(account, header.removeprefix(f"{SESSION_COOKIE}="))

    return run_async(make())


def http_browser(platform: Platform, who: Person | None) -> httpx.Client:
    client = httpx.Client(base_url=platform.url, timeout=60, follow_redirects=True)
    if who is not None:
        host = urlsplit(platform.url).hostname or "127.0.0.1"
        client.cookies.set(SESSION_COOKIE, who.cookie, domain=host, path="/services/api/")
    return client


def hub_token(client: httpx.Client, name: str) -> str:
    """A hub API token made with the browser's hub session, as the Token page does."""
    response = client.post(
        f"/hub/api/users/{name}/tokens",
        json={"note": "e2e", "expires_in": 3600},
        headers={"X-XSRFToken": client.cookies.get("_xsrf", path="/hub/") or ""},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_the_hub_login_passes_through_the_provider_to_the_hub_home(brokered: Platform) -> None:
    admin = person(brokered, role="platform_admin")
    with http_browser(brokered, admin) as client:
        home = client.get("/hub/login")
        assert home.status_code == 200, brokered.log_tail()
        assert urlsplit(str(home.url)).path == "/hub/home"
        visited = [urlsplit(str(r.url)).path for r in home.history]
        assert "/services/api/oauth2/authorize" in visited
        assert "/hub/oauth_callback" in visited
        token = hub_token(client, admin.account.username)
    model = httpx.get(
        f"{brokered.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()
    assert model["name"] == admin.account.username
    assert model["admin"] is True
    assert model["groups"] == ["platform-admins"]


def test_a_developer_is_no_hub_admin_and_is_in_the_developers_group(brokered: Platform) -> None:
    developer = person(brokered)
    with http_browser(brokered, developer) as client:
        assert urlsplit(str(client.get("/hub/login").url)).path == "/hub/home"
        token = hub_token(client, developer.account.username)
        model = client.get("/hub/api/user", headers={"Authorization": f"token {token}"}).json()
    assert (model["name"], model["admin"]) == (developer.account.username, False)
    assert model["groups"] == ["developers"]


def test_a_signed_out_visitor_is_sent_to_the_platform_sign_in(brokered: Platform) -> None:
    with http_browser(brokered, None) as client:
        client.follow_redirects = False
        response = client.get("/hub/login")
        for _ in range(5):
            location = response.headers.get("location", "")
            if location.startswith(SIGN_IN_PATH) or not location:
                break
            response = client.get(location)
    assert response.status_code == 303, response.text
    assert urlsplit(str(response.url)).path == "/services/api/oauth2/authorize"
    assert response.headers["location"].startswith(SIGN_IN_PATH + "?next=")


def test_an_unverified_account_signs_in_but_starts_no_server(brokered: Platform) -> None:
    unverified = person(brokered, verified=False)
    name = unverified.account.username
    with http_browser(brokered, unverified) as client:
        assert urlsplit(str(client.get("/hub/login").url)).path == "/hub/home"
        token = hub_token(client, name)
    with httpx.Client(
        base_url=f"{brokered.url}/hub/api", headers={"Authorization": f"token {token}"}, timeout=60
    ) as hub:
        refused = hub.post(f"/users/{name}/server")
        assert refused.status_code == 403, refused.text
        assert "Verify your e-mail address" in refused.json()["message"]
        assert str(unverified.account.email) in refused.json()["message"]
        assert hub.get(f"/users/{name}").json()["servers"] == {}


def test_a_person_signs_in_with_their_password_in_a_browser(
    brokered: Platform, browser: Browser
) -> None:
    email, password = fresh_email(), "an-unusual-passphrase-for-tests-93"
    settings = Settings(_env_file=None, data_dir=brokered.data_dir)

    async def make() -> Account:
        database = Database(settings.sqlalchemy_url)
        try:
            account = await create_account(
                database, email=email, password_hash=await hash_password(password)
            )
            async with database.sessionmaker() as session:
                await session.execute(
                    update(Account)
                    .where(Account.id == account.id)
                    .values(profile_completed_at=datetime.now(UTC))
                )
                await session.commit()
        finally:
            await database.dispose()
        return account

    account = run_async(make())
    page = browser.new_page()
    try:
        page.goto(f"{brokered.url}/hub/login")
        page.wait_for_url(re.compile(re.escape(f"{brokered.url}{SIGN_IN_PATH}") + r"\?next="))
        page.screenshot(path=artifact_path("platform-sign-in.png"))
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[value=password]")
        page.wait_for_url(f"{brokered.url}/hub/home")
        page.screenshot(path=artifact_path("platform-sign-in-hub-home.png"))
        assert account.username in page.content()
    finally:
        page.close()
