"""The api application, served by the hub's proxy under ``/services/api/``.

The proxy forwards full paths, so the app is mounted at the service prefix; inside the
mount, routes are written relative to it (``/me``, ``/health``) and the docs know their
public URL through the mount's root path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from api import __version__
from api.accounts import account_pages, admin_organisations, admin_pages
from api.accounts import pages as sign_in_pages
from api.accounts.external import routes as external_sign_in
from api.auth import HubIdentity
from api.billing import pages as billing_pages
from api.billing import webhooks as billing_webhooks
from api.core.config import Settings, get_settings
from api.core.db import Database
from api.core.names import API_PREFIX
from api.dashboard_credentials import DashboardCredentialIdentity
from api.errors import install_error_handlers
from api.identity.provider import ProviderStarter
from api.organisations import branding_pages, import_pages, insight_pages, sso_pages
from api.organisations import pages as organisation_pages
from api.routes import (
    admin,
    assistant,
    billing,
    dashboards,
    internal,
    marketplace,
    me,
    oauth,
    oidc,
    patterns,
    project_stream,
    projects,
    system,
    tenants,
    usage,
)
from api.routes.docs import install_docs

DESCRIPTION = """
The DATAZENtr platform API. Authenticate with a JupyterHub API token
(`Authorization: token <token>`, created on the hub's Token page), or open these pages
in a browser after logging in to the hub.

Errors are JSON: `{"error": {"status", "code", "message", "fields"?}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    identity: HubIdentity | None = None,
) -> FastAPI:
    settings = settings or get_settings()

    inner = FastAPI(
        title="DATAZENtr API",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(inner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(settings.app_sqlalchemy_url)
        # A mounted app runs no lifespan of its own: its routes read the inner app's state.
        who = DashboardCredentialIdentity(
            identity or HubIdentity(),
            settings.dashboards_credential_key,
            max_age_seconds=settings.dashboards_credential_minutes * 60,
        )
        # With the platform's own sign-in, the api is the hub's OpenID Connect provider.
        provider = ProviderStarter(settings, db) if settings.authenticator == "platform" else None
        if provider is not None:
            await provider.try_start()
        for target in (app, inner):
            target.state.settings = settings
            target.state.database = db
            target.state.identity = who
            target.state.identity_provider = provider
        try:
            yield
        finally:
            await db.dispose()

    for module in (
        system,
        me,
        usage,
        admin,
        internal,
        patterns,
        dashboards,
        marketplace,
        tenants,
        projects,
        project_stream,
        assistant,
        oauth,
        oidc,
        sign_in_pages,
        external_sign_in,
        account_pages,
        admin_pages,
        admin_organisations,
        organisation_pages,
        insight_pages,
        import_pages,
        sso_pages,
        branding_pages,
        billing,
        billing_webhooks,
        billing_pages,
    ):
        inner.include_router(module.router)
    install_error_handlers(inner)

    outer = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(outer)
    prefix = API_PREFIX.rstrip("/")

    # The hub's Services menu links to the prefix: people land on the docs.
    @outer.get(prefix, include_in_schema=False)
    async def _bare_prefix() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/docs", status_code=302)

    @inner.get("/", include_in_schema=False)
    async def _index() -> RedirectResponse:
        return RedirectResponse(f"{prefix}/docs", status_code=302)

    outer.mount(prefix, inner)
    return outer
