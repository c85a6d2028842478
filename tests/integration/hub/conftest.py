"""The platform's hub side in this process: JupyterHub's ``MockHub`` configured by the
platform's own ``apply_spawner`` (local servers, plan limits), and the real api on real
PostgreSQL, served on loopback, resolving tokens with that hub as it does in production."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_asyncio
from jupyterhub.services.auth import HubOAuth
from jupyterhub.tests.mocking import MockHub
from traitlets.config import Config

from api.auth import HubIdentity
from api.core import migrate
from api.core.config import Settings
from api.core.names import API_PREFIX, API_SERVICE
from api.main import create_app
from hub.config import apply_services, proxy_command
from hub.spawners import apply_spawner
from tests.support.asgi import serve_app
from tests.support.database import create_database
from tests.support.filesystem import reachable_by_other_users
from tests.support.mock_hub import running_mock_hub
from tests.support.network import free_port


@pytest.fixture(scope="module")
def hub_port() -> int:
    """The port of the hub's REST API, chosen first: the api resolves tokens there."""
    return free_port()


@pytest.fixture(scope="module")
def api_service_token() -> str:
    """The api service's own token, with which it asks the hub who a token belongs to."""
    return secrets.token_hex(16)


@pytest.fixture(scope="module")
def api_settings(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the api and the hub: a data dir and a migrated database of their own."""
    url = create_database(pg_settings, "hub_spawners")
    migrate.upgrade(url)
    data_dir = reachable_by_other_users(tmp_path_factory.mktemp("hub-data"))
    return Settings(_env_file=None, data_dir=data_dir, database_url=url)


@pytest.fixture(scope="module")
def api_url(api_settings: Settings, hub_port: int, api_service_token: str) -> Iterator[str]:
    """The real api app with its lifespan, on a loopback port; its base URL (no prefix)."""
    hub_auth = HubOAuth(
        api_url=f"http://127.0.0.1:{hub_port}/hub/api",
        api_token=api_service_token,
        base_url=API_PREFIX,
        access_scopes={f"access:services!service={API_SERVICE}"},
        cache_max_age=60,
    )
    app = create_app(api_settings, identity=HubIdentity(hub_auth))
    with serve_app(app, lifespan=True) as url:
        yield url


@pytest.fixture(scope="module")
def hub_settings(api_settings: Settings, api_url: str) -> Settings:
    """The platform settings the hub is configured from: local servers, the api's port."""
    port = urlparse(api_url).port
    assert port is not None
    return api_settings.model_copy(update={"api_port": port, "spawner": "local"})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mock_hub(
    hub_settings: Settings,
    hub_port: int,
    api_service_token: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[MockHub]:
    """MockHub with the platform's spawner configuration and its services' names, tokens
    and roles (the services themselves are this process: the api above, the test).

    On the test module's own event loop (the tests too: ``loop_scope="module"``), since
    the hub cancels every task of its loop when it stops."""
    c = Config()
    apply_spawner(hub_settings, c)
    product = Config()
    apply_services(hub_settings, product)
    c.JupyterHub.services = [
        {"name": service["name"]}
        | ({"api_token": service["api_token"]} if "api_token" in service else {})
        | ({"api_token": api_service_token} if service["name"] == API_SERVICE else {})
        for service in product.JupyterHub.services
    ]
    c.JupyterHub.load_roles = product.JupyterHub.load_roles
    c.JupyterHub.hub_port = hub_port
    c.JupyterHub.bind_url = f"http://127.0.0.1:{free_port()}/"
    c.ConfigurableHTTPProxy.command = [proxy_command(hub_settings)]
    workdir: Path = tmp_path_factory.mktemp("mock-hub")
    async with running_mock_hub(c, workdir) as app:
        yield app
