"""Platform admins: tenants (organisations) and their members."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminUser, SessionDep
from api.errors import NotFound
from api.organisations import sso
from api.schemas.me import TenantOut
from api.schemas.tenants import SsoDomainsIn, SsoDomainsOut, TenantIn, TenantMembershipIn
from api.tenants import create_tenant, list_tenants, set_membership

router = APIRouter(prefix="/admin", tags=["tenants"])


@router.post(
    "/tenants",
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant",
    responses={409: {"description": "The slug is taken."}},
)
async def post_tenant(body: TenantIn, admin: AdminUser, session: SessionDep) -> TenantOut:
    tenant = await create_tenant(session, body.slug, body.name, actor=admin.name)
    return TenantOut.model_validate(tenant)


@router.get("/tenants", response_model=list[TenantOut], summary="List tenants")
async def get_tenants(admin: AdminUser, session: SessionDep) -> list[TenantOut]:
    return [TenantOut.model_validate(t) for t in await list_tenants(session)]


@router.put(
    "/tenants/{slug}/sso-domains",
    response_model=SsoDomainsOut,
    summary="Approve the domains an organisation's single sign-on serves",
    description="A platform admin vouches that the organisation owns these domains: only "
    "at an approved domain does the sign-in page send people to the organisation's "
    "provider, and only there does it make accounts. Each must be one of the "
    "organisation's email_domains (else 422, naming it); the list replaces the approved "
    "ones. Records who and when, and appends an event.",
    responses={404: {"description": "No such organisation."}},
)
async def put_sso_domains(
    slug: str, body: SsoDomainsIn, admin: AdminUser, session: SessionDep
) -> SsoDomainsOut:
    tenant = await sso.locked_by_slug(session, slug)
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    await sso.approve_domains(session, tenant, body.domains, actor=admin.name)
    return SsoDomainsOut.model_validate(tenant)


@router.put(
    "/users/{name}/tenant",
    response_model=TenantOut | None,
    summary="Put a user in a tenant (or in none)",
)
async def put_user_tenant(
    name: str, body: TenantMembershipIn, admin: AdminUser, session: SessionDep
) -> TenantOut | None:
    profile = await set_membership(session, name, body.tenant, actor=admin.name, role=body.role)
    return TenantOut.model_validate(profile.tenant) if profile.tenant else None
