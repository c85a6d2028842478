"""JupyterLab's top bar in an organisation's branding, in chromium: a real JupyterLab with the
platform's extension (its committed build) against the real api on loopback. A member of
the branded organisation sees its name and logo in place of Jupyter's and its colours as
JupyterLab's brand colours; someone in no organisation sees JupyterLab as it is.

A person's usage notice (a limit reached) shows as a notification with an Upgrade action.

Screenshots go to test-artifacts/lab-branding-*.png and lab-usage-notice.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.main import create_app
from api.models import Tenant, UsageNotice
from hub.spawners import labextension_data_path
from tests.support.artifacts import artifact_path
from tests.support.asgi import serve_app
from tests.support.branding import png
from tests.support.identity import AnyUserIdentity, as_user, fresh_user
from tests.support.network import free_port
from tests.support.waiting import PATIENCE_SECONDS

pytestmark = pytest.mark.slow

API = "/services/api"
REPO = Path(__file__).resolve().parents[2]
TEAL, AMBER = "#0d9488", "#f59e0b"


@pytest.fixture(scope="module")
def api_url(migrated: Settings) -> Iterator[str]:
    with serve_app(create_app(migrated, identity=AnyUserIdentity()), lifespan=True) as url:
        yield url


def brand_organisation(settings: Settings, slug: str) -> None:
    """Its branding as its admins' page saves it."""

    async def save() -> None:
        database = Database(settings.app_sqlalchemy_url).in_scope(PLATFORM)
        try:
            async with database.sessionmaker() as session:
                await session.execute(
                    update(Tenant)
                    .where(Tenant.slug == slug)
                    .values(
                        brand_name="Acme Lab",
                        brand_primary=TEAL,
                        brand_accent=AMBER,
                        brand_logo=png(120, 40, (13, 148, 136)),
                        brand_logo_type="image/png",
                    )
                )
                await session.commit()
        finally:
            await database.dispose()

    # Playwright's loop runs in this thread: the database is used from another.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, save()).result()


def member_of_branded_organisation(api_url: str, settings: Settings) -> str:
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    name = fresh_user("lab")
    root = as_user("root")
    made = httpx.post(
        f"{api_url}{API}/admin/tenants", json={"slug": slug, "name": "Acme"}, headers=root
    )
    assert made.status_code == 201, made.text
    placed = httpx.put(
        f"{api_url}{API}/admin/users/{name}/tenant", json={"tenant": slug}, headers=root
    )
    assert placed.status_code == 200, placed.text
    brand_organisation(settings, slug)
    return name


@contextmanager
def jupyterlab(api_url: str, user: str, root_dir: Path) -> Iterator[str]:
    """A JupyterLab server whose extension calls the api as ``user``; yields its URL with
    the token to open it."""
    port, token = free_port(), secrets.token_hex(8)
    config_dir = root_dir / ".jupyter"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"extensions.assistant": True}}})
    )
    env = {
        **os.environ,
        "JUPYTER_PATH": labextension_data_path(),
        "DATAZENTR_API_URL": f"{api_url}{API}",
        "JUPYTERHUB_API_TOKEN": f"user:{user}",
        "PYTHONPATH": str(REPO),
        "JUPYTER_CONFIG_DIR": str(config_dir),
    }
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    log = artifact_path(f"lab-branding-{user}.log")
    with open(log, "wb") as out:
        server = subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def answering() -> bool:
            try:
                return httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200
            except httpx.TransportError:
                return server.poll() is not None  # stopped: fail below with its log

        deadline = time.monotonic() + 2 * PATIENCE_SECONDS
        while not answering():
            assert time.monotonic() < deadline, "JupyterLab did not answer"
            time.sleep(0.1)
        assert server.poll() is None, Path(log).read_text()[-3000:]
        yield f"{url}/lab?token={token}"
    finally:
        server.terminate()
        server.wait(30)


def open_lab(chromium: Browser, url: str) -> Page:
    page = chromium.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.goto(url)
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
    return page


def test_a_members_jupyterlab_shows_the_organisations_branding_in_the_top_bar(
    chromium: Browser, api_url: str, migrated: Settings, tmp_path: Path
) -> None:
    member = member_of_branded_organisation(api_url, migrated)
    with jupyterlab(api_url, member, tmp_path) as url:
        page = open_lab(chromium, url)
        brand = page.locator("#jp-top-panel #dz-brand")
        expect(brand).to_be_visible(timeout=60_000)
        expect(brand.locator(".dz-brand-name")).to_have_text("Acme Lab")
        logo = brand.locator("img.dz-brand-logo")
        src = logo.get_attribute("src") or ""
        assert src.startswith(f"{API}/organisations/acme-") and "/logo?v=" in src
        expect(page.locator("#jp-MainLogo")).to_be_hidden()
        colour = page.evaluate(
            "getComputedStyle(document.body).getPropertyValue('--jp-brand-color1').trim()"
        )
        assert colour == TEAL
        border = page.locator("#jp-top-panel").evaluate(
            "panel => getComputedStyle(panel).borderBottomColor"
        )
        assert border == "rgb(245, 158, 11)"
        page.screenshot(path=artifact_path("lab-branding-member.png"))
        page.context.close()


def test_someone_in_no_organisation_sees_jupyterlab_unbranded(
    chromium: Browser, api_url: str, tmp_path: Path
) -> None:
    with jupyterlab(api_url, fresh_user("solo"), tmp_path) as url:
        page = open_lab(chromium, url)
        # The extension has asked by the time its status item shows the engine.
        expect(page.locator(".dz-status-engine")).to_contain_text("Assistant", timeout=60_000)
        page.wait_for_function("document.body.dataset.dzBrandChecked === 'yes'", timeout=60_000)
        expect(page.locator("#dz-brand")).to_have_count(0)
        expect(page.locator("#jp-MainLogo")).to_be_visible()
        page.screenshot(path=artifact_path("lab-branding-none.png"))
        page.context.close()


def raise_notice(settings: Settings, name: str, message: str) -> None:
    """A notice of today, as the meters raise it at 100% of a limit."""

    async def save() -> None:
        database = Database(settings.app_sqlalchemy_url).in_scope(PLATFORM)
        try:
            async with database.sessionmaker() as session:
                session.add(
                    UsageNotice(
                        hub_name=name,
                        day=datetime.now(UTC).date(),
                        limit_name="assistant_tokens",
                        threshold=100,
                        message=message,
                    )
                )
                await session.commit()
        finally:
            await database.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, save()).result()


def test_a_usage_notice_shows_in_jupyterlab_with_the_upgrade_link(
    chromium: Browser, api_url: str, migrated: Settings, tmp_path: Path
) -> None:
    name = fresh_user("notice")
    message = "You have used all 50,000 assistant tokens of today on the Free plan."
    raise_notice(migrated, name, message)
    with jupyterlab(api_url, name, tmp_path) as url:
        page = open_lab(chromium, url)
        toast = page.locator(".Toastify__toast", has_text="assistant tokens")
        expect(toast).to_be_visible(timeout=60_000)
        upgrade = toast.get_by_role("button", name="Upgrade")
        expect(upgrade).to_be_visible()
        expect(toast).to_be_in_viewport(ratio=1)  # slid in, for the screenshot
        page.screenshot(path=artifact_path("lab-usage-notice.png"))
        page.context.close()
