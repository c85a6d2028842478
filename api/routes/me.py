"""The signed-in user: identity from the hub, profile and plan from the database."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import HubUser
from api.deps import CurrentUser, SessionDep
from api.models import UserProfile
from api.profiles import get_or_create_profile, update_profile
from api.schemas.me import MeOut, PlanOut, ProfileUpdate, TenantOut

router = APIRouter(tags=["me"])


def _me(user: HubUser, profile: UserProfile) -> MeOut:
    return MeOut(
        name=user.name,
        admin=user.admin,
        roles=user.roles,
        groups=user.groups,
        display_name=profile.display_name,
        email=profile.email,
        plan=PlanOut.model_validate(profile.plan),
        tenant=TenantOut.model_validate(profile.tenant) if profile.tenant else None,
        member_since=profile.created_at,
    )


@router.get("/me", response_model=MeOut, summary="Who am I, with my roles and plan")
async def read_me(user: CurrentUser, session: SessionDep) -> MeOut:
    profile = await get_or_create_profile(session, user)
    return _me(user, profile)


@router.patch("/me", response_model=MeOut, summary="Change my display name or email")
async def patch_me(changes: ProfileUpdate, user: CurrentUser, session: SessionDep) -> MeOut:
    profile = await get_or_create_profile(session, user)
    profile = await update_profile(session, profile, changes, actor=user.name)
    return _me(user, profile)
