"""User profiles: the platform's data about a hub user, created on first sight."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.events import append_event
from api.models import UserProfile
from api.models.account import Account
from api.schemas.me import ProfileUpdate


async def get_or_create_profile(session: AsyncSession, user: HubUser) -> UserProfile:
    # ON CONFLICT: two first requests of one user at once must not both insert.
    # A person with a platform account starts with its name and confirmed address.
    account = select(Account).where(Account.username == user.name)
    created = await session.scalar(
        insert(UserProfile)
        .values(
            hub_name=user.name,
            display_name=account.with_only_columns(Account.display_name).scalar_subquery(),
            email=account.with_only_columns(Account.email)
            .where(Account.email_verified_at.is_not(None))
            .scalar_subquery(),
        )
        .on_conflict_do_nothing(index_elements=[UserProfile.hub_name])
        .returning(UserProfile.id)
    )
    if created is not None:
        append_event(session, stream=f"user:{user.name}", type="user.joined", actor=user.name)
        await session.commit()
    profile = await session.scalar(select(UserProfile).where(UserProfile.hub_name == user.name))
    if profile is None:  # pragma: no cover - the row was inserted or already existed above
        raise RuntimeError(f"profile of {user.name} vanished")
    return profile


async def update_profile(
    session: AsyncSession, profile: UserProfile, changes: ProfileUpdate, actor: str
) -> UserProfile:
    fields = changes.model_dump(exclude_unset=True)
    for name, value in fields.items():
        setattr(profile, name, value)
    if fields:
        append_event(
            session,
            stream=f"user:{profile.hub_name}",
            type="profile.updated",
            actor=actor,
            payload={"fields": sorted(fields)},
            tenant_id=profile.tenant_id,
        )
    await session.commit()
    await session.refresh(profile)
    return profile
