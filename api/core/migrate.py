"""Apply and revert database migrations (Alembic) from code: used by the launcher and tests."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from api.core.app_role import ensure_app_role
from api.core.config import Settings, with_role

log = logging.getLogger(__name__)

DEFAULT_APP_ROLE = Settings.model_fields["database_app_role"].default
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(sqlalchemy_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(
    sqlalchemy_url: str,
    revision: str = "head",
    *,
    app_url: str | None = None,
    app_password: str | None = None,
) -> None:
    """Migrate as the owner (``sqlalchemy_url``), then grant the api's role what exists.

    ``app_url`` is how the api connects (default: the same server as the role
    ``datazentr_app``); ``app_password``, when given, is set on that role."""
    log.info("migrating database to %s", revision)
    command.upgrade(alembic_config(sqlalchemy_url), revision)
    if revision == "head":
        app_url = app_url or with_role(sqlalchemy_url, DEFAULT_APP_ROLE, None)
        ensure_app_role(sqlalchemy_url, app_url, app_password)


def downgrade(sqlalchemy_url: str, revision: str) -> None:
    log.info("reverting database to %s", revision)
    command.downgrade(alembic_config(sqlalchemy_url), revision)


def upgrade_platform(settings: Settings) -> None:
    """The platform's database at the newest schema, with the api's role ready."""
    upgrade(
        settings.sqlalchemy_url,
        app_url=settings.app_sqlalchemy_url,
        app_password=settings.app_role_password(),
    )
