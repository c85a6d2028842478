"""The dashboards service: Voila behind the hub's OAuth, one credential per visitor.

Run by the hub as the managed service ``dashboards`` at ``/services/dashboards/``. Every
page and kernel connection needs a hub login (unauthenticated visitors go to the hub's
login page and come back). Kernels are preheated: a pool per dashboard has run the
notebook up to the cell that waits for its request, so a page answers at once.

Identity hand-off: when a signed-in visitor opens a dashboard, the page handler sets the
request header ``X-Datazentr-Dashboard-Credential`` itself (whatever the browser sent
under that name is replaced) to a short-lived credential minted for the hub user the hub
named; Voila hands that header, and only on this request, to the kernel serving the page,
which sends it to the api. The request-info socket kernels read it from answers only
direct loopback connections, never requests through the proxy.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from tornado import escape, web
from voila.app import Voila  # type: ignore[import-untyped]
from voila.request_info_handler import RequestInfoSocketHandler  # type: ignore[import-untyped]
from voila.tornado.handler import TornadoVoilaHandler  # type: ignore[import-untyped]
from voila.tornado.treehandler import TornadoVoilaTreeHandler  # type: ignore[import-untyped]

from api.core.config import Settings
from api.core.names import DASHBOARD_API_URL_ENV as API_URL_ENV
from api.core.names import DASHBOARD_CREDENTIAL_ENV as CREDENTIAL_ENV
from api.core.names import DASHBOARD_CREDENTIAL_HEADER as HEADER
from api.core.names import DASHBOARDS_SERVICE
from api.dashboard_credentials import mint
from hub.dashboard_branding import BrandedPage, brand_bar, brand_style, brand_title, visitor_brand
from hub.dashboard_kernels import (
    SETTINGS_KEY,
    VISITOR,
    KernelOwners,
    OwnedKernelHandler,
    OwnedKernelWebsocketHandler,
    OwnedShutdownHandler,
    track,
)

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = PROJECT_ROOT / "voila_apps"
LOOPBACK = ("127.0.0.1", "::1")

# (file, title, what it shows) — the index page and the hub home list these.
DASHBOARDS = (
    (
        "neural_dashboard.ipynb",
        "Neural dashboard",
        "Your patterns, projects, time and cost saved, quality and learning curve.",
    ),
    (
        "orchestration.ipynb",
        "Agent orchestration",
        "A generation job's agents, tasks, quality gates and live log.",
    ),
    (
        "marketplace.ipynb",
        "Pattern marketplace",
        "Bundles of patterns: ratings, downloads, install free ones.",
    ),
    (
        "billing.ipynb",
        "Billing",
        "Platform admins: subscriptions by plan, MRR, trials, churn, usage, organisations.",
    ),
)
# Only the hub's admins may open these (the api refuses their data to anyone else too).
ADMINS_ONLY = frozenset({"billing.ipynb"})


def may_open(path: str | None, admin: bool) -> bool:
    """Whether a visitor may open the dashboard at ``path`` (relative to ``voila_apps/``)."""
    if admin:
        return True
    target = (APPS_DIR / (path or "").lstrip("/")).resolve()  # as Voila finds the file
    return all(target != (APPS_DIR / name).resolve() for name in ADMINS_ONLY)


def listed_for(admin: bool) -> list[tuple[str, str, str]]:
    """The dashboards the index lists to a visitor."""
    return [entry for entry in DASHBOARDS if admin or entry[0] not in ADMINS_ONLY]


def is_admin(user: Any) -> bool:
    """Whether the hub says the signed-in visitor is an admin."""
    return bool(getattr(user, "hub_user", {}).get("admin"))


class HubIdentityProvider(JupyterHubIdentityProvider):  # type: ignore[misc]
    """The hub's OAuth identity provider, accepting the arguments Voila passes."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("token", None)  # the hub's login replaces Voila's token
        kwargs.pop("login_handler_class", None)
        super().__init__(**kwargs)


# Voila's page template links Font Awesome from a CDN; the hub serves the same stylesheets,
# so a visitor's browser never calls out of the platform for them.
FONT_AWESOME_CDN = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/"
FONT_AWESOME_HUB = "/hub/static/components/@fortawesome/fontawesome-free/css/"


def without_cdn(html: str) -> str:
    return html.replace(FONT_AWESOME_CDN, FONT_AWESOME_HUB)


class DashboardHandler(TornadoVoilaHandler):  # type: ignore[misc]
    """A dashboard page for a signed-in visitor, rendered with their credential."""

    branded: BrandedPage | None = None

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        if isinstance(chunk, str):
            chunk = without_cdn(chunk)
            if self.branded is not None:  # the visitor's organisation's top bar
                chunk = self.branded(chunk)
        super().write(chunk)

    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        user = self.current_user
        if not may_open(path, is_admin(user)):
            raise web.HTTPError(403, "Only platform admins may open this dashboard.")
        settings: Settings = self.settings["datazentr_settings"]
        # Replaces any value the browser sent: the kernel only ever gets ours.
        credential = mint(user.username, settings.dashboards_credential_key())
        self.request.headers[HEADER] = credential
        self.branded = BrandedPage(await visitor_brand(settings.api_url_for_servers, credential))
        log.info("dashboard %s for %s", path, user.username)
        visitor = VISITOR.set(user.username)  # the kernel handed out below is theirs
        try:
            await super().get(path)
        finally:
            VISITOR.reset(visitor)


class LoopbackRequestInfoHandler(RequestInfoSocketHandler):  # type: ignore[misc]
    """Request info (with the credential) goes only to kernels on this machine."""

    async def get(self, *args: Any, **kwargs: Any) -> None:
        proxied = "X-Forwarded-For" in self.request.headers
        if proxied or self.request.remote_ip not in LOOPBACK:
            raise web.HTTPError(403, "Only the dashboards' own kernels may connect here.")
        await super().get(*args, **kwargs)


class IndexHandler(JupyterHandler):
    """``/services/dashboards/``: the list of dashboards, for a signed-in visitor."""

    @web.authenticated
    async def get(self) -> None:
        base = self.settings["base_url"]
        settings: Settings = self.settings["datazentr_settings"]
        credential = mint(self.current_user.username, settings.dashboards_credential_key())
        brand = await visitor_brand(settings.api_url_for_servers, credential)
        product = brand_title(brand, "DATAZENtr")
        items = "".join(
            f'<li><a href="{url_path_join(base, "voila/render", name)}">{title}</a>'
            f"<p>{text}</p></li>"
            for name, title, text in listed_for(is_admin(self.current_user))
        )
        name = escape.xhtml_escape(self.current_user.username)
        self.set_header("Content-Type", "text/html")
        self.finish(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{product} dashboards"
            "</title><style>body{font-family:system-ui,sans-serif;margin:0}main{max-width:42rem;"
            "margin:3rem auto;padding:0 1rem}li{margin:1rem 0}p{margin:.2rem 0;color:#555}"
            f"</style>{brand_style(brand) if brand else ''}</head><body>"
            f"{brand_bar(brand) if brand else ''}<main><h1>Dashboards</h1>"
            f"<p>Signed in as <b>{name}</b>. "
            f'<a href="/hub/home">Back to the hub</a></p><ul>{items}</ul></main></body></html>'
        )


# Kernel handlers that answer only the visitor the kernel serves.
OWNED = {
    cls.__mro__[1]: cls
    for cls in (OwnedKernelHandler, OwnedKernelWebsocketHandler, OwnedShutdownHandler)
}


class DashboardsApp(Voila):  # type: ignore[misc]
    """Voila serving ``voila_apps/`` under the service prefix, hub-authenticated."""

    name = "datazentr-dashboards"
    settings_object: Settings | None = None

    def init_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = super().init_settings()
        settings["datazentr_settings"] = self.settings_object
        owners = KernelOwners()
        track(self.kernel_manager, owners, CREDENTIAL_ENV)
        settings[SETTINGS_KEY] = owners
        # The service's hub token is read now; kernels started later must not inherit it.
        _ = self.identity_provider.hub_auth.api_token
        os.environ.pop("JUPYTERHUB_API_TOKEN", None)
        os.environ.pop("JPY_API_TOKEN", None)
        return settings

    def init_handlers(self) -> list[Any]:
        handlers = []
        for spec in super().init_handlers():
            pattern, handler, *rest = spec
            if handler is TornadoVoilaTreeHandler:
                if pattern != self.server_url:
                    continue  # no file browser: the index lists the dashboards
                handler, rest = IndexHandler, []
            elif handler is TornadoVoilaHandler:
                handler = DashboardHandler
            elif handler is RequestInfoSocketHandler:
                handler = LoopbackRequestInfoHandler
            elif handler in OWNED:
                handler = OWNED[handler]
            elif pattern in ("/logout", "/oauth_callback"):
                # The identity provider's own pages, under the service prefix.
                pattern = url_path_join(self.server_url, pattern)
            handlers.append((pattern, handler, *rest))
        return handlers


def voila_arguments(settings: Settings, service_url: str, prefix: str) -> list[str]:
    port = urlparse(service_url).port or 80
    return [
        str(APPS_DIR),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        f"--Voila.base_url={prefix}",
        f"--Voila.identity_provider_class={HubIdentityProvider.__module__}."
        f"{HubIdentityProvider.__name__}",
        f"--VoilaConfiguration.preheat_kernel={settings.dashboards_pool_size > 0}",
        f"--VoilaConfiguration.default_pool_size={settings.dashboards_pool_size}",
        f"--VoilaConfiguration.http_header_envs={HEADER}",
        "--VoilaConfiguration.show_tracebacks=False",
        "--VoilaConfiguration.allow_template_override=NO",
        "--VoilaConfiguration.allow_theme_override=NO",
    ]


def kernel_environment(settings: Settings) -> None:
    """What the notebooks' kernels find: the api's URL and the project on the path."""
    os.environ[API_URL_ENV] = settings.api_url_for_servers
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), path) if p)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = Settings()
    service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8092")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{DASHBOARDS_SERVICE}/")
    settings.dashboards_credential_key()  # created before the first visitor, not during
    kernel_environment(settings)
    app = DashboardsApp()
    app.settings_object = settings
    app.initialize(voila_arguments(settings, service_url, prefix) + list(argv or []))
    app.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
