"""FastAPI dependencies, as ``Annotated`` aliases the routes use as parameter types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubIdentity, HubUser
from api.billing import meters
from api.core.config import Settings
from api.core.db import Database
from api.core.names import QUOTA_SERVICE
from api.core.tenancy import PLATFORM, Scope, person_scope, set_scope
from api.errors import Forbidden


def settings_of(request: Request) -> Settings:
    """The settings the app was made with (tests make apps with settings of their own)."""
    settings: Settings = request.app.state.settings
    return settings


def get_settings_dep(request: Request) -> Settings:
    return settings_of(request)


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_identity(request: Request) -> HubIdentity:
    identity: HubIdentity = request.app.state.identity
    return identity


async def get_session(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    async with database.sessionmaker() as session:
        yield session


async def get_caller(
    request: Request,
    identity: Annotated[HubIdentity, Depends(get_identity)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> HubUser:
    """Who is asking, from the hub's answer for their token; the request's database
    session takes their scope."""
    caller = await identity.user_for_request(request)
    if caller.is_service:
        # Only the hub's quota service works across everyone's rows (usage, spawn policy,
        # branding); any other service token sees the shared rows alone.
        await set_scope(session, PLATFORM if caller.name == QUOTA_SERVICE else Scope())
    else:
        scope = await person_scope(session, caller.name)
        await meters.count_api_call(session, settings_of(request), caller.name, scope.tenant_id)
    return caller


async def get_current_user(caller: Annotated[HubUser, Depends(get_caller)]) -> HubUser:
    if caller.is_service:
        raise Forbidden(f"This endpoint is for people; the service {caller.name!r} has no profile.")
    return caller


async def get_admin(
    user: Annotated[HubUser, Depends(get_current_user)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> HubUser:
    """A platform admin, whose administration spans every organisation."""
    if not user.admin:
        raise Forbidden("Only platform admins may do this.")
    await set_scope(session, PLATFORM)
    return user


async def get_quota_service(caller: Annotated[HubUser, Depends(get_caller)]) -> HubUser:
    if not (caller.is_service and caller.name == QUOTA_SERVICE):
        raise Forbidden("This endpoint is for the hub's quota service only.")
    return caller


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
IdentityDep = Annotated[HubIdentity, Depends(get_identity)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentUser = Annotated[HubUser, Depends(get_current_user)]
AdminUser = Annotated[HubUser, Depends(get_admin)]
QuotaService = Annotated[HubUser, Depends(get_quota_service)]
