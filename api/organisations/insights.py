"""What an organisation's pages show of its members' work: usage per member from the
ledgers, and its library (patterns shared in it, and its projects).

Every read runs in the caller's own scope, so the database decides what they see: an
organisation's admin reads its members' session minutes and assistant requests (migration
0014) and the organisation's patterns and projects (its tenant rows); a member reads their
own ledgers only. Nothing here switches to the platform's scope.

Days are UTC days, as in :mod:`api.usage`: a session that spans midnight counts on both
days, each its part, and an open one counts up to now. "7 days" are today and the six
days before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Account, Pattern, Project, ServerSession, Tenant, UserProfile
from api.models.assistant import AssistantUsage
from api.organisations.membership import ADMIN, Member, members, role_of
from api.patterns.access import Viewer, visible_to
from api.usage import day_bounds

WEEK_DAYS = 7
# The most rows a library page lists of each kind (newest first).
LIBRARY_LIMIT = 500


@dataclass(frozen=True)
class Standing:
    """A person's organisation and whether they run it (None: they are in none)."""

    tenant: Tenant | None
    is_admin: bool


async def standing_of(session: AsyncSession, account: Account) -> Standing:
    profile = await session.scalar(
        select(UserProfile).where(UserProfile.hub_name == account.username)
    )
    if profile is None or profile.tenant_id is None:
        return Standing(None, False)
    tenant = await session.get(Tenant, profile.tenant_id)
    return Standing(tenant, tenant is not None and role_of(profile) == ADMIN)


# Usage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Today and the week up to today's end, as UTC bounds."""

    now: datetime
    today_start: datetime
    week_start: datetime
    end: datetime

    @classmethod
    def at(cls, now: datetime) -> Window:
        today_start, end = day_bounds(now)
        return cls(now, today_start, today_start - timedelta(days=WEEK_DAYS - 1), end)

    @property
    def today(self) -> date:
        return self.today_start.date()

    @property
    def first_day(self) -> date:
        return self.week_start.date()


@dataclass(frozen=True)
class Usage:
    """One member's numbers (or the totals: ``member`` None)."""

    member: Member | None
    minutes_today: float = 0.0
    minutes_week: float = 0.0
    generations_today: int = 0
    generations_week: int = 0
    assistant_today: int = 0
    assistant_week: int = 0


def _seconds_between(start: datetime, end: datetime, now: datetime) -> ColumnElement[float]:
    """Seconds of a session inside ``[start, end)``: ``api.usage.used_seconds_today``'s
    rule (clipped at both ends, an open session up to now) for any window."""
    until = func.least(func.coalesce(ServerSession.ended_at, now), end)
    since = func.greatest(ServerSession.started_at, start)
    return func.greatest(func.extract("epoch", until - since), 0)


def _overlaps(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(
        ServerSession.started_at < end,
        or_(ServerSession.ended_at.is_(None), ServerSession.ended_at > start),
    )


async def _minutes(
    session: AsyncSession, names: Sequence[str], window: Window
) -> dict[str, tuple[float, float]]:
    """Minutes today and in the week, per person."""
    today = _seconds_between(window.today_start, window.end, window.now)
    week = _seconds_between(window.week_start, window.end, window.now)
    rows = await session.execute(
        select(
            ServerSession.hub_name,
            func.coalesce(func.sum(today).filter(_overlaps(window.today_start, window.end)), 0),
            func.coalesce(func.sum(week), 0),
        )
        .where(ServerSession.hub_name.in_(names), _overlaps(window.week_start, window.end))
        .group_by(ServerSession.hub_name)
    )
    return {name: (float(t) / 60, float(w) / 60) for name, t, w in rows}


async def _generations(
    session: AsyncSession, tenant: Tenant, names: Sequence[str], window: Window
) -> dict[str, tuple[int, int]]:
    """Projects generated in the organisation today and in the week, per owner."""
    rows = await session.execute(
        select(
            Project.owner,
            func.count().filter(Project.created_at >= window.today_start),
            func.count(),
        )
        .where(
            Project.tenant_id == tenant.id,
            Project.owner.in_(names),
            Project.created_at >= window.week_start,
            Project.created_at < window.end,
        )
        .group_by(Project.owner)
    )
    return {owner: (int(t), int(w)) for owner, t, w in rows}


async def _assistant(
    session: AsyncSession, names: Sequence[str], window: Window
) -> dict[str, tuple[int, int]]:
    """Assistant requests today and in the week, per person."""
    rows = await session.execute(
        select(
            AssistantUsage.hub_name,
            func.coalesce(
                func.sum(AssistantUsage.requests).filter(AssistantUsage.day == window.today), 0
            ),
            func.coalesce(func.sum(AssistantUsage.requests), 0),
        )
        .where(
            AssistantUsage.hub_name.in_(names),
            AssistantUsage.day >= window.first_day,
            AssistantUsage.day <= window.today,
        )
        .group_by(AssistantUsage.hub_name)
    )
    return {name: (int(t), int(w)) for name, t, w in rows}


async def usage_per_member(
    session: AsyncSession, tenant: Tenant, now: datetime
) -> tuple[list[Usage], Usage]:
    """Each member's usage (members without any with zeros), and the totals. Run in the
    scope of one of the organisation's admins: the database shows only what they may see."""
    people = await members(session, tenant)
    names = [member.name for member in people]
    window = Window.at(now)
    minutes = await _minutes(session, names, window)
    generations = await _generations(session, tenant, names, window)
    assistant = await _assistant(session, names, window)
    rows = []
    for member in people:
        minutes_today, minutes_week = minutes.get(member.name, (0.0, 0.0))
        generations_today, generations_week = generations.get(member.name, (0, 0))
        assistant_today, assistant_week = assistant.get(member.name, (0, 0))
        rows.append(
            Usage(
                member,
                round(minutes_today, 1),
                round(minutes_week, 1),
                generations_today,
                generations_week,
                assistant_today,
                assistant_week,
            )
        )
    total = Usage(
        None,
        round(sum(minutes.get(n, (0.0, 0.0))[0] for n in names), 1),
        round(sum(minutes.get(n, (0.0, 0.0))[1] for n in names), 1),
        sum(row.generations_today for row in rows),
        sum(row.generations_week for row in rows),
        sum(row.assistant_today for row in rows),
        sum(row.assistant_week for row in rows),
    )
    return rows, total


# Library --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryPattern:
    id: uuid.UUID
    title: str
    kind: str
    language: str
    author: str | None
    updated_at: datetime


@dataclass(frozen=True)
class OrganisationProject:
    id: uuid.UUID
    description: str
    owner: str
    status: str
    created_at: datetime


async def shared_patterns(
    session: AsyncSession, tenant: Tenant, account: Account
) -> list[LibraryPattern]:
    """The patterns its members share in the organisation (visibility ``tenant``), newest
    change first."""
    viewer = Viewer(name=account.username, tenant_id=tenant.id)
    rows = await session.scalars(
        select(Pattern)
        .where(
            visible_to(viewer),
            Pattern.tenant_id == tenant.id,
            Pattern.visibility == "tenant",
        )
        .order_by(Pattern.updated_at.desc(), Pattern.title)
        .limit(LIBRARY_LIMIT)
    )
    return [LibraryPattern(p.id, p.title, p.kind, p.language, p.author, p.updated_at) for p in rows]


async def organisation_projects(
    session: AsyncSession, tenant: Tenant, account: Account, *, everyone: bool
) -> list[OrganisationProject]:
    """The organisation's projects, newest first: all of them for its admins
    (``everyone``), a member's own otherwise."""
    query = select(Project).where(Project.tenant_id == tenant.id)
    if not everyone:
        query = query.where(Project.owner == account.username)
    rows = await session.scalars(query.order_by(Project.created_at.desc()).limit(LIBRARY_LIMIT))
    return [OrganisationProject(p.id, p.description, p.owner, p.status, p.created_at) for p in rows]
