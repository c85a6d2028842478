"""JupyterHub configuration as pure functions of the platform settings.

``jupyterhub_config.py`` only calls ``apply_all``; tests call each ``apply_*`` with a
``traitlets.config.Config()`` and look at the result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from api.core.config import ConfigError, Settings
from api.core.logging import JSON_FIELDS
from api.core.names import (
    API_PREFIX,
    API_SERVICE,
    CULLER_SERVICE,
    DASHBOARDS_SERVICE,
    GENERATION_WORKER_SERVICE,
    QUOTA_SERVICE,
)
from hub.authenticators import apply_auth
from hub.branding import MemberBrands
from hub.notices import UsageNotices
from hub.spawners import apply_spawner

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def proxy_command(settings: Settings) -> str:
    if settings.proxy_command:
        return settings.proxy_command
    return str(PROJECT_ROOT / "node_modules" / ".bin" / "configurable-http-proxy")


def resolve_spawner(settings: Settings) -> str:
    """``auto`` becomes ``docker`` when an engine answers, else ``local``."""
    if settings.spawner != "auto":
        return settings.spawner
    from hub.docker_images import docker_available

    return "docker" if docker_available(os.environ.get("DOCKER_HOST")) else "local"


def apply_network(settings: Settings, c: Any) -> None:
    c.JupyterHub.ip = settings.hub_ip
    c.JupyterHub.port = settings.hub_port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings.hub_api_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [proxy_command(settings)]
    c.ConfigurableHTTPProxy.pid_file = str(settings.data_dir / "jupyterhub-proxy.pid")
    # The hub started the proxy, so it stops it too (the default, stated on purpose).
    c.ConfigurableHTTPProxy.should_start = True
    c.JupyterHub.cleanup_proxy = True
    c.JupyterHub.cleanup_servers = True


def apply_state(settings: Settings, c: Any) -> None:
    """The hub's own database and secrets live in the data dir."""
    c.JupyterHub.db_url = f"sqlite:///{settings.data_dir / 'jupyterhub.sqlite'}"
    # JupyterHub creates this file (mode 0600) with a random secret on first start.
    c.JupyterHub.cookie_secret_file = str(settings.secrets_dir / "jupyterhub_cookie_secret")


def dashboards_service(settings: Settings) -> dict[str, Any]:
    """Voila with the hub's OAuth in front (hub/dashboards.py); no secrets in its env, since
    its kernels run dashboard code for visitors."""
    port = settings.dashboards_port or _free_loopback_port()
    return {
        "name": DASHBOARDS_SERVICE,
        "display": True,
        "url": f"http://127.0.0.1:{port}",
        "timeout": SERVICE_START_TIMEOUT_SECONDS,
        "command": [sys.executable, "-m", "hub.dashboards"],
        "cwd": str(PROJECT_ROOT),
        "environment": settings.child_environment(with_secrets=False) | _UNBUFFERED,
        "oauth_no_confirm": True,
    }


# How long the hub waits for a managed service's URL to answer before it gives up and exits
# (JupyterHub's default is 30 s). The api's cold start imports ONNX Runtime and the embedder:
# on a busy 2-core machine that took 31 s, so the hub waits as long as `make up` does.
SERVICE_START_TIMEOUT_SECONDS = 120

# Services log as they go, so the hub's log interleaves them in order.
_UNBUFFERED = {"PYTHONUNBUFFERED": "1"}


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def apply_services(settings: Settings, c: Any) -> None:
    service_env = settings.child_environment() | _UNBUFFERED
    c.JupyterHub.services = [
        {
            "name": API_SERVICE,
            "display": True,
            "url": f"http://127.0.0.1:{settings.api_port}",
            "timeout": SERVICE_START_TIMEOUT_SECONDS,
            "command": [sys.executable, "-m", "api"],
            "cwd": str(PROJECT_ROOT),
            "environment": service_env,
            # Our own service: no "authorize this application?" page on browser login.
            "oauth_no_confirm": True,
        },
        {
            # Checks running servers against plans; its token is also the hub's own
            # credential for the api's internal endpoints (spawn policy, usage ledger).
            "name": QUOTA_SERVICE,
            "command": [sys.executable, "-m", "hub.quota"],
            "cwd": str(PROJECT_ROOT),
            "environment": service_env,
            "api_token": settings.quota_service_token(),
        },
        {
            # Project generation jobs from the Postgres queue (more: run more workers).
            "name": GENERATION_WORKER_SERVICE,
            "command": [sys.executable, "-m", "api.worker"],
            "cwd": str(PROJECT_ROOT),
            "environment": service_env,
        },
        dashboards_service(settings),
        {
            "name": CULLER_SERVICE,
            "command": [
                sys.executable,
                "-m",
                "jupyterhub_idle_culler",
                f"--timeout={settings.cull_idle_seconds}",
                f"--cull-every={settings.cull_every_seconds}",
            ],
        },
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "user",
            "description": "Every user: their own resources and the platform api.",
            "scopes": [
                "self",
                f"access:services!service={API_SERVICE}",
                f"access:services!service={DASHBOARDS_SERVICE}",
            ],
        },
        {
            "name": "quota-enforcer",
            "description": "Sees running servers, stops those over budget, reports usage.",
            "scopes": [
                "list:users",
                "read:users",
                "read:servers",
                "servers",
                f"access:services!service={API_SERVICE}",
            ],
            "services": [QUOTA_SERVICE],
        },
        {
            # The account pages: a person's own hub tokens (list, create, revoke) and, when
            # they delete their account, their hub user (the hub stops its servers first).
            # "tokens" lets the api create a token for any user, never with more scopes
            # than that user holds (the hub checks each token against its owner).
            "name": "api-accounts",
            "description": "Manages people's own API tokens and deletes deleted accounts.",
            "scopes": ["tokens", "delete:users"],
            "services": [API_SERVICE],
        },
        {
            "name": CULLER_SERVICE,
            "description": "Stops idle servers (jupyterhub-idle-culler).",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": [CULLER_SERVICE],
        },
    ]


def apply_logging(settings: Settings, c: Any) -> None:
    """The hub logs JSON lines to stderr, like the api: one format to collect and search."""
    c.JupyterHub.log_level = settings.log_level
    c.JupyterHub.logging_config = {
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": JSON_FIELDS,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"console": {"formatter": "json"}},
    }


def apply_pages(settings: Settings, c: Any) -> None:
    c.JupyterHub.template_paths = [str(TEMPLATES_DIR)]
    c.JupyterHub.template_vars = {
        "product_name": settings.product_name,
        # A member's pages in their organisation's branding (fetched without blocking).
        "member_brand": MemberBrands.from_settings(settings),
        # Today's usage notices (80% and 100% of a limit) as a banner, with the upgrade link.
        "usage_notices": UsageNotices.from_settings(settings),
        # The platform's account pages, where people manage what the hub signs them in with.
        "account_url": f"{API_PREFIX}accounts/settings"
        if settings.authenticator == "platform"
        else "",
    }
    # After login people land on the hub home (start server, dashboards), not in a spawn.
    c.JupyterHub.redirect_to_server = False


def apply_kubernetes(settings: Settings, c: Any) -> None:
    """For Zero to JupyterHub's ``hub.extraConfig``: the chart owns the proxy, the hub's
    network and database; the platform adds accounts, services, plans and KubeSpawner."""
    apply_auth(settings, c)
    apply_spawner(settings.model_copy(update={"spawner": "kubernetes"}), c)
    apply_services(settings, c)
    apply_pages(settings, c)
    apply_logging(settings, c)


def apply_all(settings: Settings, c: Any) -> None:
    if not settings.data_dir.exists():
        raise ConfigError(f"The data dir {settings.data_dir} does not exist; run `make up`.")
    apply_network(settings, c)
    apply_state(settings, c)
    apply_auth(settings, c)
    apply_spawner(settings.model_copy(update={"spawner": resolve_spawner(settings)}), c)
    apply_services(settings, c)
    apply_pages(settings, c)
    apply_logging(settings, c)
