"""User profiles and their events in the real database."""

import asyncio
import uuid

from sqlalchemy import func, select

from api.auth import HubUser
from api.core.db import Database
from api.models import Event, UserProfile
from api.profiles import get_or_create_profile, update_profile
from api.schemas.me import ProfileUpdate
from tests.support.accounts import create_account


def new_user() -> HubUser:
    return HubUser(name=f"user-{uuid.uuid4().hex[:8]}", admin=False)


async def test_first_sight_creates_a_free_profile_and_a_joined_event(database: Database) -> None:
    user = new_user()
    async with database.sessionmaker() as session:
        profile = await get_or_create_profile(session, user)
        assert profile.plan.code == "free"
        assert profile.plan.daily_minutes == 120
        events = (
            await session.scalars(select(Event).where(Event.stream == f"user:{user.name}"))
        ).all()
    assert [e.type for e in events] == ["user.joined"]


async def test_a_platform_account_gives_its_name_and_confirmed_address(
    database: Database,
) -> None:
    confirmed = await create_account(database, display_name="Ada Lovelace")
    unconfirmed = await create_account(database, verified=False)
    async with database.sessionmaker() as session:
        first = await get_or_create_profile(session, HubUser(name=confirmed.username, admin=False))
        second = await get_or_create_profile(
            session, HubUser(name=unconfirmed.username, admin=False)
        )
    assert (first.display_name, first.email) == ("Ada Lovelace", confirmed.email)
    assert second.email is None  # an address nobody confirmed is not the profile's


async def test_concurrent_first_requests_create_one_profile(database: Database) -> None:
    user = new_user()

    async def visit() -> uuid.UUID:
        async with database.sessionmaker() as session:
            return (await get_or_create_profile(session, user)).id

    ids = await asyncio.gather(*(visit() for _ in range(8)))
    assert len(set(ids)) == 1
    async with database.sessionmaker() as session:
        joined = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.stream == f"user:{user.name}", Event.type == "user.joined")
        )
        rows = await session.scalar(
            select(func.count()).select_from(UserProfile).where(UserProfile.hub_name == user.name)
        )
    assert (joined, rows) == (1, 1)


async def test_update_changes_only_given_fields_and_is_logged(database: Database) -> None:
    user = new_user()
    async with database.sessionmaker() as session:
        profile = await get_or_create_profile(session, user)
        await update_profile(session, profile, ProfileUpdate(display_name="Ada"), actor=user.name)
        profile = await update_profile(
            session, profile, ProfileUpdate(email="ada@example.org"), actor=user.name
        )
        assert (profile.display_name, profile.email) == ("Ada", "ada@example.org")
        events = (
            await session.scalars(
                select(Event).where(Event.stream == f"user:{user.name}").order_by(Event.id)
            )
        ).all()
    assert [(e.type, e.payload) for e in events] == [
        ("user.joined", {}),
        ("profile.updated", {"fields": ["display_name"]}),
        ("profile.updated", {"fields": ["email"]}),
    ]
