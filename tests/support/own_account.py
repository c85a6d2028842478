"""A person's own account pages in tests: the in-process browser with the api talking to
a hub (a real one, or an address where nothing answers), and a real JupyterHub
(``MockHub``) configured with the platform's services and roles."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from jupyterhub.services.auth import HubOAuth
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from api.auth import HubIdentity
from api.core.config import Settings
from api.core.names import API_PREFIX, API_SERVICE
from api.main import create_app
from hub.config import apply_services, proxy_command
from tests.support.accounts import (
    PAGES,
    link_path,
    random_client_address,
    submit,
    token_of,
)
from tests.support.mock_hub import running_mock_hub
from tests.support.network import free_port
from tests.support.smtp import SmtpServer

SETTINGS_PAGES = f"{PAGES}/settings"


def hub_api_url(app: MockHub) -> str:
    return str(app.hub.api_url).rstrip("/")


def nothing_listening() -> str:
    """A hub API address on loopback where nothing answers."""
    return f"http://127.0.0.1:{free_port()}/hub/api"


@asynccontextmanager
async def pages_with_hub(
    settings: Settings,
    hub_url: str,
    service_token: str,
    *,
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser on the api's pages (``http://hub``, cookies kept, redirects not followed)
    whose api calls the hub at ``hub_url`` with ``service_token``, as the api service does.

    The api's OpenID Connect provider stays off (``authenticator="native"``): these pages
    do not need it, and it refuses the plain-http ``http://hub`` the mailed links use."""
    hub_auth = HubOAuth(api_url=hub_url, api_token=service_token, base_url=API_PREFIX)
    app = create_app(
        settings.model_copy(update={"authenticator": "native"}), identity=HubIdentity(hub_auth)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(random_client_address(), 50000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://hub",
            timeout=120,
            headers={"User-Agent": user_agent},
        ) as client:
            yield client


@asynccontextmanager
async def platform_mock_hub(
    settings: Settings, workdir: Path, api_service_token: str
) -> AsyncIterator[MockHub]:
    """JupyterHub's MockHub (its mock spawner) with the platform's services, their tokens
    and hub roles; the api service's token is ``api_service_token``."""
    product = Config()
    apply_services(settings, product)
    c = Config()
    c.JupyterHub.services = [
        {"name": service["name"]}
        | ({"api_token": service["api_token"]} if "api_token" in service else {})
        | ({"api_token": api_service_token} if service["name"] == API_SERVICE else {})
        for service in product.JupyterHub.services
    ]
    c.JupyterHub.load_roles = product.JupyterHub.load_roles
    c.JupyterHub.hub_port = free_port()
    c.JupyterHub.bind_url = f"http://127.0.0.1:{free_port()}/"
    c.ConfigurableHTTPProxy.command = [proxy_command(settings)]
    async with running_mock_hub(c, workdir) as app:
        yield app


def new_service_token() -> str:
    return secrets.token_hex(16)


async def sign_in_by_link(client: httpx.AsyncClient, smtp: SmtpServer, email: str) -> str:
    """Sign in with a mailed link (asked for on the sign-in page); where it sent the browser."""
    asked = await submit(
        client,
        f"{PAGES}/sign-in",
        {"email": email, "password": "", "next": "/hub/", "action": "magic_link"},
    )
    assert asked.status_code == 200, asked.text
    return await use_latest_link(client, smtp, email)


async def use_latest_link(client: httpx.AsyncClient, smtp: SmtpServer, email: str) -> str:
    """Open the newest sign-in link mailed to ``email`` and press its button."""
    link = smtp.inbox.to(email)[-1].links()[0]
    used = await submit(client, f"{PAGES}/magic", {"token": token_of(link)}, page=link_path(link))
    assert used.status_code == 303, used.text
    return used.headers["location"]
