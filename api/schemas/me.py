"""The caller's own account: profile, plan and organisation, and what they may change."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Shape only: whether mail reaches the address is checked by sending to it, not here.
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    price_cents_per_month: int | None = Field(description="None: priced on request.")
    cpu_limit: float
    memory_limit_mb: int
    daily_minutes: int | None = Field(description="Session minutes a day; None: unlimited.")
    idle_timeout_minutes: int
    named_servers: int
    storage_gb: int
    generations_per_day: int | None
    assistant_requests_per_day: int | None


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str


class MeOut(BaseModel):
    name: str = Field(description="The hub user name.")
    admin: bool
    roles: list[str]
    groups: list[str]
    display_name: str | None
    email: str | None
    plan: PlanOut
    tenant: TenantOut | None
    member_since: datetime


class ProfileUpdate(BaseModel):
    """Fields a user may change about themselves. Omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(
        default=None, max_length=320, description="An address like name@example.org."
    )

    @field_validator("email")
    @classmethod
    def _looks_like_an_address(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_SHAPE.fullmatch(value):
            raise ValueError("must be an email address like name@example.org")
        return value
