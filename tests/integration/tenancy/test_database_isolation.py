"""Organisations kept apart by PostgreSQL itself: the catalogue, the api's role, and what
each scope can read and write when the api's own queries forget to filter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.exc import ProgrammingError

from api.core import migrate
from api.core.app_role import UnsafeAppRole, ensure_app_role
from api.core.config import Settings, with_role
from api.core.db import Database
from api.core.row_security import UNPROTECTED_TABLES_SQL, unprotected
from api.core.tenancy import PLATFORM, Scope
from api.models import (
    AssistantConversation,
    Pattern,
    Project,
    ProjectEvent,
    ServerSession,
    Tenant,
    UserProfile,
)
from api.models.pattern import EMBEDDING_DIMENSION
from tests.support.database import app_url

APP_ROLE = migrate.DEFAULT_APP_ROLE


def _owner_rows(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_every_tenant_table_has_forced_row_security(migrated: Settings) -> None:
    url = migrated.sqlalchemy_url
    rows = [(str(name), bool(tenant)) for name, tenant in _owner_rows(url, UNPROTECTED_TABLES_SQL)]
    assert unprotected(rows) == []
    tenant_tables = _owner_rows(
        url,
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT a.attisdropped",
    )
    assert {name for name, *_ in tenant_tables} >= {"patterns", "projects", "events"}
    assert [name for name, enabled, forced in tenant_tables if not (enabled and forced)] == []


def test_the_api_role_is_bound_by_row_security(migrated: Settings) -> None:
    url = migrated.sqlalchemy_url
    [(superuser, bypass, can_create_roles)] = _owner_rows(
        url,
        "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = :r",
        r=APP_ROLE,
    )
    assert (superuser, bypass, can_create_roles) == (False, False, False)
    owned = _owner_rows(
        url,
        "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
        "WHERE rolname = :r)",
        r=APP_ROLE,
    )
    assert owned == []
    # The api's settings connect as that role, not as the owner the migrations use.
    assert f"//{APP_ROLE}@" in migrated.app_sqlalchemy_url
    assert f"//{APP_ROLE}@" not in migrated.sqlalchemy_url


def test_a_migration_that_adds_an_unprotected_table_is_refused(
    scratch_database_url: str,
) -> None:
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE team_notes (id int PRIMARY KEY, tenant_id uuid)"))
    engine.dispose()
    with pytest.raises(UnsafeAppRole, match="team_notes"):
        migrate.upgrade(scratch_database_url)


def test_a_superuser_or_bypassrls_role_is_refused_for_the_api(scratch_database_url: str) -> None:
    migrate.upgrade(scratch_database_url)
    with pytest.raises(UnsafeAppRole, match="owns the tables"):
        ensure_app_role(scratch_database_url, scratch_database_url)
    role = f"bypass_{uuid.uuid4().hex[:8]}"
    owner = scratch_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN BYPASSRLS")
    try:
        with pytest.raises(UnsafeAppRole, match="BYPASSRLS"):
            ensure_app_role(scratch_database_url, with_role(scratch_database_url, role, None))
    finally:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


class TwoOrganisations:
    """Acme (ada) and Globex (gus), each with a pattern, a project with an event and a
    conversation; and one pattern in the shared library."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.acme = uuid.uuid4()
        self.globex = uuid.uuid4()
        self.ada = f"ada-{suffix}"
        self.gus = f"gus-{suffix}"
        self.patterns: dict[uuid.UUID | None, uuid.UUID] = {
            self.acme: uuid.uuid4(),
            self.globex: uuid.uuid4(),
            None: uuid.uuid4(),
        }
        self.projects = {self.acme: uuid.uuid4(), self.globex: uuid.uuid4()}

    def member(self, tenant: uuid.UUID | None) -> str:
        return self.ada if tenant == self.acme else self.gus

    async def create(self, database: Database) -> None:
        async with database.scoped(PLATFORM) as session:
            for tenant in (self.acme, self.globex):
                session.add(Tenant(id=tenant, slug=f"t-{tenant.hex[:12]}", name="Org"))
            await session.flush()
            for tenant in (self.acme, self.globex):
                name = self.member(tenant)
                session.add(UserProfile(hub_name=name, tenant_id=tenant))
                session.add(AssistantConversation(owner=name, title=f"{name}'s chat"))
                session.add(
                    Project(
                        id=self.projects[tenant],
                        owner=name,
                        tenant_id=tenant,
                        description=f"{name}'s project",
                    )
                )
            for owner, pattern_id in self.patterns.items():
                session.add(
                    Pattern(
                        id=pattern_id,
                        kind="snippet",
                        title="A pattern",
                        description="Who may read it is the question.",
                        language="python",
                        files=[],
                        embedding=[0.0] * (EMBEDDING_DIMENSION - 1) + [1.0],
                        embedding_model="test",
                        tenant_id=owner,
                        visibility="public" if owner is None else "tenant",
                        author=None if owner is None else self.member(owner),
                    )
                )
            await session.flush()
            for project_id in self.projects.values():
                session.add(ProjectEvent(project_id=project_id, seq=1, type="project.created"))
            await session.commit()

    def scope(self, tenant: uuid.UUID) -> Scope:
        return Scope(user=self.member(tenant), tenant_id=tenant)


@pytest.fixture
async def api_database(migrated: Settings) -> AsyncIterator[Database]:
    """The api's own connection, without the tests' platform-wide scope."""
    database = Database(migrated.app_sqlalchemy_url)
    yield database
    await database.dispose()


@pytest.fixture
async def organisations(api_database: Database) -> AsyncIterator[TwoOrganisations]:
    orgs = TwoOrganisations()
    await orgs.create(api_database)
    yield orgs


async def _ids(database: Database, scope: Scope | None, model: type, column: str) -> set[object]:
    session = database.scoped(scope) if scope else database.sessionmaker()
    async with session:
        return set(await session.scalars(select(getattr(model, column))))


async def test_each_organisation_reads_its_rows_and_the_shared_ones(
    api_database: Database, organisations: TwoOrganisations
) -> None:
    database = api_database
    orgs = organisations
    acme = orgs.scope(orgs.acme)
    patterns = await _ids(database, acme, Pattern, "id")
    assert orgs.patterns[orgs.acme] in patterns
    assert orgs.patterns[None] in patterns
    assert orgs.patterns[orgs.globex] not in patterns
    projects = await _ids(database, acme, Project, "id")
    assert orgs.projects[orgs.acme] in projects and orgs.projects[orgs.globex] not in projects
    events = await _ids(database, acme, ProjectEvent, "project_id")
    assert orgs.projects[orgs.globex] not in events and orgs.projects[orgs.acme] in events
    owners = await _ids(database, acme, AssistantConversation, "owner")
    assert owners == {orgs.ada}
    profiles = await _ids(database, acme, UserProfile, "hub_name")
    assert orgs.ada in profiles and orgs.gus not in profiles


async def test_no_scope_sees_only_the_shared_rows_and_platform_sees_all(
    api_database: Database, organisations: TwoOrganisations
) -> None:
    database = api_database
    orgs = organisations
    unscoped = await _ids(database, None, Pattern, "id")
    assert orgs.patterns[None] in unscoped
    assert not unscoped & {orgs.patterns[orgs.acme], orgs.patterns[orgs.globex]}
    assert not await _ids(database, None, AssistantConversation, "owner") & {orgs.ada, orgs.gus}
    everything = await _ids(database, PLATFORM, Pattern, "id")
    assert set(orgs.patterns.values()) <= everything


async def test_one_organisation_cannot_write_into_another(
    api_database: Database, organisations: TwoOrganisations
) -> None:
    database = api_database
    orgs = organisations
    async with database.scoped(orgs.scope(orgs.acme)) as session:
        changed = await session.execute(
            update(Project)
            .where(Project.id == orgs.projects[orgs.globex])
            .values(description="taken over")
        )
        assert changed.rowcount == 0  # type: ignore[attr-defined]
        session.add(Project(owner=orgs.ada, tenant_id=orgs.globex, description="planted"))
        with pytest.raises(ProgrammingError, match="row-level security"):
            await session.flush()


async def test_the_scope_outlives_a_commit(
    api_database: Database, organisations: TwoOrganisations
) -> None:
    database = api_database
    orgs = organisations
    async with database.scoped(orgs.scope(orgs.globex)) as session:
        await session.commit()
        count = await session.scalar(
            select(func.count()).select_from(Project).where(Project.tenant_id == orgs.globex)
        )
        assert count == 1
        await session.commit()
        leaked = await session.scalar(
            select(func.count()).select_from(Project).where(Project.tenant_id == orgs.acme)
        )
        assert leaked == 0


async def test_the_api_connects_as_its_role(api_database: Database) -> None:
    async with api_database.sessionmaker() as session:
        assert await session.scalar(text("SELECT current_user")) == APP_ROLE


def test_test_helpers_use_the_api_role(migrated: Settings) -> None:
    assert app_url(migrated.sqlalchemy_url) == migrated.app_sqlalchemy_url


async def test_an_organisations_admin_reads_its_members_ledgers_not_their_chats(
    api_database: Database, organisations: TwoOrganisations
) -> None:
    orgs = organisations
    colleague = f"amy-{uuid.uuid4().hex[:8]}"
    started = datetime.now(UTC)
    async with api_database.scoped(PLATFORM) as session:
        session.add(UserProfile(hub_name=colleague, tenant_id=orgs.acme))
        session.add(AssistantConversation(owner=colleague, title="amy's chat"))
        for name in (orgs.ada, orgs.gus, colleague):
            session.add(
                ServerSession(
                    hub_name=name, started_at=started, last_seen_at=started, plan_code="free"
                )
            )
        await session.commit()
    admin = Scope(user=orgs.ada, tenant_id=orgs.acme, tenant_admin=True)
    assert await _ids(api_database, admin, ServerSession, "hub_name") == {orgs.ada, colleague}
    assert await _ids(api_database, admin, AssistantConversation, "owner") == {orgs.ada}
    member = Scope(user=colleague, tenant_id=orgs.acme)
    assert await _ids(api_database, member, ServerSession, "hub_name") == {colleague}
    # Reading is all: an admin can neither rewrite nor erase a member's ledger.
    async with api_database.scoped(admin) as session:
        ended = started + timedelta(hours=1)
        rewritten = await session.execute(
            update(ServerSession).where(ServerSession.hub_name == colleague).values(ended_at=ended)
        )
        erased = await session.execute(
            delete(ServerSession).where(ServerSession.hub_name == colleague)
        )
        assert (rewritten.rowcount, erased.rowcount) == (0, 0)  # type: ignore[attr-defined]
        await session.commit()
    assert await _ids(api_database, PLATFORM, ServerSession, "hub_name") >= {colleague}
    # Saying "admin" without an organisation grants nothing.
    nowhere = Scope(user=orgs.gus, tenant_admin=True)
    assert await _ids(api_database, nowhere, ServerSession, "hub_name") == {orgs.gus}
