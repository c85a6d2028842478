"""Request bodies of the admin's tenant endpoints (responses reuse ``TenantOut``, but for
the single sign-on domains' ``SsoDomainsOut``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", examples=["acme"])
    name: str = Field(min_length=1, max_length=200)


class TenantMembershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str | None = Field(description="A tenant's slug, or null to leave every tenant.")
    role: Literal["member", "admin"] = Field(
        default="member",
        description="Their role in it: admins run the organisation's page (members, "
        "invitations, seats, settings).",
    )


class SsoDomainsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domains: list[str] = Field(
        max_length=50,
        description="The organisation's e-mail domains whose people its single sign-on "
        "serves (each one of its email_domains); the list replaces the approved ones, so "
        "[] revokes them all.",
        examples=[["acme.org"]],
    )


class SsoDomainsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    email_domains: list[str] = Field(description="The domains its admins list.")
    sso_approved_domains: list[str] = Field(
        description="The domains a platform admin approved: only these are sent to its provider."
    )
    sso_enabled: bool
    sso_approved_by: str | None = Field(description="Who last changed the approvals.")
    sso_approved_at: datetime | None
