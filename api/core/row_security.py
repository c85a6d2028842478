"""PostgreSQL row-level security: the SQL that keeps organisations apart, for migrations.

Each transaction of the api says whose it is through three settings (see
:mod:`api.core.tenancy`): ``datazentr.user``, ``datazentr.tenant_id`` and
``datazentr.platform``. The policies below read them through three SQL functions, so a
transaction that says nothing sees only the shared rows (``tenant_id`` NULL) and no
person's own rows: forgetting to set a scope hides data, it never shows another
organisation's.

Tables get ``ENABLE`` and ``FORCE`` (the owner is bound too); superusers and roles with
``BYPASSRLS`` would still pass, which is why the api connects as a role that is neither
(:mod:`api.core.app_role`).
"""

from __future__ import annotations

from alembic import op

POLICY = "isolation"

SCOPE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION datazentr_platform_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('datazentr.platform', true), '') = 'on' $$;
CREATE OR REPLACE FUNCTION datazentr_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('datazentr.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION datazentr_user() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('datazentr.user', true), '') $$;
"""

TENANT_ADMIN_FUNCTION = """
CREATE OR REPLACE FUNCTION datazentr_tenant_admin() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('datazentr.tenant_admin', true), '') = 'on' $$;
"""

DROP_SCOPE_FUNCTIONS = """
DROP FUNCTION IF EXISTS datazentr_platform_scope();
DROP FUNCTION IF EXISTS datazentr_tenant();
DROP FUNCTION IF EXISTS datazentr_user();
"""


# Each in a scalar subquery: evaluated once per statement (an init plan), not per row.
PLATFORM_SCOPE = "(SELECT datazentr_platform_scope())"
TENANT = "(SELECT datazentr_tenant())"
USER = "(SELECT datazentr_user())"


def tenant_rows(extra: str | None = None) -> str:
    """Rows of the caller's organisation, and the shared ones (``tenant_id`` NULL)."""
    condition = f"{PLATFORM_SCOPE} OR tenant_id IS NULL OR tenant_id = {TENANT}"
    return f"{condition} OR {extra}" if extra else condition


def own_rows(column: str) -> str:
    """Rows of the person the transaction is for."""
    return f"{PLATFORM_SCOPE} OR {column} = {USER}"


def own_or_members_rows(table: str, column: str) -> str:
    """A person's own rows; and, for an organisation's admins, those of its members."""
    member = f"member.hub_name = {table}.{column} AND member.tenant_id = {TENANT}"
    members = f"EXISTS (SELECT 1 FROM user_profiles AS member WHERE {member})"  # noqa: S608
    return f"{own_rows(column)} OR ((SELECT datazentr_tenant_admin()) AND {members})"


def rows_of_visible(parent: str, reference: str) -> str:
    """Rows whose parent row the transaction may see (the parent's policy decides);
    ``reference`` is the child's column, qualified by its table."""
    # Table and column names come from the migrations' own constants, never from input.
    return f"EXISTS (SELECT 1 FROM {parent} AS parent WHERE parent.id = {reference})"  # noqa: S608


def add_read_policy(table: str, name: str, condition: str) -> None:
    """Rows a scope may read beyond those it may change (policies for one command add up)."""
    op.execute(f"CREATE POLICY {name} ON {table} FOR SELECT USING ({condition})")


def protect(table: str, condition: str) -> None:
    """Row-level security on ``table``, enabled and forced, with one policy for all commands."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {POLICY} ON {table} FOR ALL USING ({condition}) WITH CHECK ({condition})"
    )


def unprotect(table: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


# Tables without any organisation's or person's content: accounts and sign-in state are
# the platform's (a person has one account whatever their organisation), plans and the
# organisations themselves are looked up before a scope exists, and the job queue carries
# only ids. Every other table must have forced row-level security.
SHARED_TABLES = frozenset(
    {
        "alembic_version",
        "tenants",
        "plans",
        "accounts",
        "account_identities",
        "account_tokens",
        "account_sessions",
        "sign_in_attempts",
        "retired_usernames",
        "oauth_clients",
        "oauth_authorization_codes",
        "oauth_tokens",
        "oauth_signing_keys",
        "procrastinate_jobs",
        "procrastinate_events",
        "procrastinate_periodic_defers",
        "procrastinate_workers",
    }
)

UNPROTECTED_TABLES_SQL = """
SELECT c.relname,
       EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
           AS has_tenant_id
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
  AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
ORDER BY c.relname
"""


def unprotected(rows: list[tuple[str, bool]]) -> list[str]:
    """Of the tables without forced row-level security, those that must have it: every
    table with ``tenant_id``, and every table not declared shared."""
    return [name for name, has_tenant_id in rows if has_tenant_id or name not in SHARED_TABLES]
