"""Tenants (organisations) and who belongs to which: changed by platform admins only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import HubUser
from api.errors import Conflict, NotFound
from api.events import append_event
from api.models import Tenant, UserProfile
from api.profiles import get_or_create_profile


async def create_tenant(session: AsyncSession, slug: str, name: str, actor: str) -> Tenant:
    created = await session.scalar(
        insert(Tenant)
        .values(slug=slug, name=name)
        .on_conflict_do_nothing(index_elements=[Tenant.slug])
        .returning(Tenant.id)
    )
    if created is None:
        raise Conflict(f"A tenant with the slug {slug!r} exists already.")
    append_event(
        session,
        stream=f"tenant:{slug}",
        type="tenant.created",
        actor=actor,
        payload={"name": name},
        tenant_id=created,
    )
    await session.commit()
    tenant = await session.get(Tenant, created)
    if tenant is None:  # pragma: no cover - inserted above
        raise RuntimeError(f"tenant {slug} vanished")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list(await session.scalars(select(Tenant).order_by(Tenant.slug)))


async def set_membership(
    session: AsyncSession, user_name: str, slug: str | None, actor: str, role: str = "member"
) -> UserProfile:
    """Put a hub user in a tenant (or in none) with ``role`` there; the profile is created
    if it is new."""
    tenant = None
    if slug is not None:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise NotFound(f"No tenant {slug!r}; create it with POST /admin/tenants.")
    profile = await get_or_create_profile(session, HubUser(name=user_name, admin=False))
    previous = profile.tenant_id
    profile.tenant_id = tenant.id if tenant else None
    profile.tenant_role = role if tenant else None
    append_event(
        session,
        stream=f"user:{user_name}",
        type="tenant.membership_changed",
        actor=actor,
        payload={
            "tenant": slug,
            "role": role if tenant else None,
            "previous_tenant_id": str(previous) if previous else None,
        },
        tenant_id=profile.tenant_id,
    )
    await session.commit()
    await session.refresh(profile, ["tenant"])
    return profile
