"""The database role the api and workers connect as, kept to what row-level security needs.

Migrations run as the role that owns the tables. The api connects as another role: no
superuser, no ``BYPASSRLS``, owner of nothing — PostgreSQL applies every policy to it.
After each upgrade the owner grants that role the rights on the tables that exist now,
creating the role first when it is missing (the owner then needs ``CREATEROLE``).
"""

from __future__ import annotations

import logging

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from api.core.config import ConfigError
from api.core.row_security import UNPROTECTED_TABLES_SQL, unprotected

log = logging.getLogger(__name__)


class UnsafeAppRole(ConfigError):
    """The api's role would not be bound by row-level security."""


def ensure_app_role(owner_url: str, app_url: str, password: str | None = None) -> None:
    """Create the api's role if needed, grant it the tables, and refuse an unsafe one.

    ``password`` is set on the role when given: the one the platform generated for it."""
    role = make_url(app_url).username
    owner = make_url(owner_url).username
    if not role:
        raise ConfigError("DATAZENTR_DATABASE_APP_URL must name its role (user@host).")
    if role == owner:
        raise UnsafeAppRole(
            f"The api's database role {role!r} is the role that owns the tables: table "
            f"owners and migrations need another role than the api. Set "
            f"DATAZENTR_DATABASE_APP_URL to a role that owns nothing, or unset it."
        )
    engine = create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            _create_if_missing(conn, role, password)
            _refuse_privileged(conn, role)
            _refuse_unprotected_tables(conn)
            _grant(conn, role)
    finally:
        engine.dispose()


def _create_if_missing(conn: Connection, role: str, password: str | None) -> None:
    exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    quoted = _quote(conn, role)
    try:
        if not exists:
            conn.execute(text(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS"))
            log.info("created the api's database role %s", role)
        if password is not None:
            # Utility statements take no parameters: the server quotes the literal.
            statement = conn.scalar(
                text(
                    "SELECT format('ALTER ROLE %I PASSWORD %L', CAST(:r AS text), CAST(:p AS text))"
                ),
                {"r": role, "p": password},
            )
            conn.execute(text(str(statement)))
    except DBAPIError as error:
        raise ConfigError(
            f"The database role {role!r} the api connects as could not be created: "
            f"{error.orig}. Give the owner CREATEROLE, or create the role yourself (LOGIN, "
            f"NOSUPERUSER, NOBYPASSRLS) and set DATAZENTR_DATABASE_APP_URL."
        ) from error


def _refuse_privileged(conn: Connection, role: str) -> None:
    row = conn.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).one()
    if row.rolsuper or row.rolbypassrls:
        raise UnsafeAppRole(
            f"The api's database role {role!r} is a superuser or has BYPASSRLS, so "
            f"row-level security would not apply to it. Use a plain role "
            f"(ALTER ROLE {role} NOSUPERUSER NOBYPASSRLS)."
        )
    owned = conn.scalar(
        text(
            "SELECT string_agg(c.relname, ', ') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = :r"
        ),
        {"r": role},
    )
    if owned:
        raise UnsafeAppRole(
            f"The api's database role {role!r} owns tables ({owned}); owners are not bound "
            f"by policies they could change. Let the migrating role own them."
        )


def _refuse_unprotected_tables(conn: Connection) -> None:
    rows = [(str(r[0]), bool(r[1])) for r in conn.execute(text(UNPROTECTED_TABLES_SQL))]
    missing = unprotected(rows)
    if missing:
        raise UnsafeAppRole(
            f"These tables hold organisations' or people's rows without forced row-level "
            f"security: {', '.join(missing)}. A migration must protect them "
            f"(api.core.row_security.protect) or declare them shared (SHARED_TABLES)."
        )


def _grant(conn: Connection, role: str) -> None:
    quoted = _quote(conn, role)
    database = _quote(conn, str(conn.scalar(text("SELECT current_database()"))))
    schema = _quote(conn, str(conn.scalar(text("SELECT current_schema()"))))
    for statement in (
        f"GRANT CONNECT ON DATABASE {database} TO {quoted}",
        f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {quoted}",
        # The migration history is the owner's alone.
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}",
    ):
        conn.execute(text(statement))


def _quote(conn: Connection, identifier: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(identifier)
