"""For the organisation's usage, library and member defaults pages: people placed in an
organisation, rows put in the ledgers and the library (as the platform), and the numbers
read back from the pages."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime

from sqlalchemy import select

from api.auth import HubUser
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.models import (
    Account,
    AssistantUsage,
    Pattern,
    Project,
    ServerSession,
    Tenant,
    UserProfile,
)
from api.models.pattern import EMBEDDING_DIMENSION
from api.profiles import get_or_create_profile
from tests.support.accounts import create_person

USAGE_COLUMNS = (
    "minutes_today",
    "minutes_week",
    "generations_today",
    "generations_week",
    "assistant_today",
    "assistant_week",
)


async def organisation(database: Database, slug: str) -> Tenant:
    async with database.scoped(PLATFORM) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None, slug
        return tenant


async def change_organisation(database: Database, slug: str, **values: object) -> None:
    """Set columns of an organisation as the platform's operator would."""
    async with database.scoped(PLATFORM) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None, slug
        for name, value in values.items():
            setattr(tenant, name, value)
        await session.commit()


async def placed_person(
    database: Database, slug: str | None, *, role: str = "member", display_name: str = "Ada"
) -> Account:
    """A new person, put into the organisation ``slug`` (or none) by the platform."""
    account = await create_person(database, display_name=display_name)
    async with database.scoped(PLATFORM) as session:
        profile = await get_or_create_profile(session, HubUser(name=account.username, admin=False))
        if slug is not None:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            profile.tenant_id, profile.tenant_role = tenant_id, role
        await session.commit()
    return account


async def plan_of(database: Database, account: Account) -> str:
    async with database.scoped(PLATFORM) as session:
        code = await session.scalar(
            select(UserProfile.plan_code).where(UserProfile.hub_name == account.username)
        )
        assert code is not None
        return code


async def add_session(
    database: Database, account: Account, started_at: datetime, ended_at: datetime | None
) -> None:
    async with database.scoped(PLATFORM) as session:
        session.add(
            ServerSession(
                hub_name=account.username,
                server_name="",
                started_at=started_at,
                last_seen_at=ended_at or started_at,
                ended_at=ended_at,
                end_reason="stopped" if ended_at else None,
                plan_code="free",
            )
        )
        await session.commit()


async def add_project(
    database: Database,
    account: Account,
    tenant_id: uuid.UUID | None,
    created_at: datetime,
    description: str = "A small web service",
    status: str = "succeeded",
) -> uuid.UUID:
    project_id = uuid.uuid4()
    async with database.scoped(PLATFORM) as session:
        session.add(
            Project(
                id=project_id,
                owner=account.username,
                tenant_id=tenant_id,
                description=description,
                status=status,
                created_at=created_at,
            )
        )
        await session.commit()
    return project_id


async def add_assistant_requests(
    database: Database, account: Account, day: date, requests: int
) -> None:
    async with database.scoped(PLATFORM) as session:
        session.add(AssistantUsage(hub_name=account.username, day=day, requests=requests))
        await session.commit()


async def add_pattern(
    database: Database,
    *,
    title: str,
    author: str | None,
    tenant_id: uuid.UUID | None,
    visibility: str,
    deleted_at: datetime | None = None,
) -> uuid.UUID:
    pattern_id = uuid.uuid4()
    async with database.scoped(PLATFORM) as session:
        session.add(
            Pattern(
                id=pattern_id,
                kind="snippet",
                title=title,
                description=f"{title}, for the organisation tests",
                language="python",
                tags=[],
                files=[{"path": "retry.py", "content": "def retry():\n    pass\n"}],
                licence="MIT",
                author=author,
                tenant_id=tenant_id,
                visibility=visibility,
                embedding=[0.1] * EMBEDDING_DIMENSION,
                embedding_model="test",
                deleted_at=deleted_at,
            )
        )
        await session.commit()
    return pattern_id


_ROW = re.compile(r'<tr data-member="([^"]*)"[^>]*>(.*?)</tr>', re.S)
_CELL = re.compile(r'<td data-label="[^"]*" class="number">([^<]*)</td>')


def usage_rows(page: str) -> dict[str, dict[str, float]]:
    """The usage page's numbers by member name ("" for the totals)."""
    rows = {}
    for name, cells in _ROW.findall(page):
        values = [float(value) for value in _CELL.findall(cells)]
        assert len(values) == len(USAGE_COLUMNS), cells
        rows[html.unescape(name)] = dict(zip(USAGE_COLUMNS, values, strict=True))
    return rows
