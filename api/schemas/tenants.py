"""Request bodies of the admin's tenant endpoints (responses reuse ``TenantOut``)."""

from __future__ import annotations

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
