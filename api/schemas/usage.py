"""Spawn policy, usage ledger, meters and notices, and plan administration: the hub's,
JupyterLab's and admins' contract."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.me import PlanOut

ServerName = Field(default="", max_length=255, description="'' is the default server.")


class SpawnPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=255)
    server_name: str = ServerName


class LimitsOut(BaseModel):
    plan_code: str
    plan_name: str
    cpu_limit: float
    memory_limit_mb: int
    idle_timeout_minutes: int
    named_servers: int
    daily_minutes: int | None


class SpawnPolicyOut(BaseModel):
    allowed: bool
    message: str
    limits: LimitsOut
    minutes_used: float
    minutes_left: float | None
    # The images the person's organisation offers, first the default (empty: the
    # platform's own image).
    images: list[str]


class SessionEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=255)
    server_name: str = ServerName
    started_at: datetime
    event: Literal["start", "stop"]
    at: datetime
    reason: str | None = Field(default=None, max_length=64)


class RunningServerIn(BaseModel):
    user: str = Field(min_length=1, max_length=255)
    server_name: str = ServerName
    started_at: datetime


class StorageSampleIn(BaseModel):
    user: str = Field(min_length=1, max_length=255)
    bytes: int = Field(ge=0, description="The size of the person's home (volume or folder).")


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    servers: list[RunningServerIn] = Field(max_length=10000)
    # Sampled by the hub every few heartbeats; the latest sample of a day is the day's.
    storage: list[StorageSampleIn] = Field(default_factory=list, max_length=10000)


class VerdictOut(BaseModel):
    user: str
    server_name: str
    minutes_used: float
    minutes_left: float | None
    action: Literal["ok", "warn", "stop"]


class HeartbeatOut(BaseModel):
    verdicts: list[VerdictOut]


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    server_name: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class MeterOut(BaseModel):
    """One daily limit: how much of it was used today, of what the plan allows."""

    name: str = Field(
        description="A meter (api_calls, compute_seconds, storage_bytes, patterns_used, "
        "agent_steps, assistant_tokens) or a hard limit (daily_minutes, generations_per_day, "
        "assistant_requests_per_day)."
    )
    label: str
    used: float
    limit: int | None = Field(description="None: the plan has no limit.")
    percent: float | None
    billed_beyond: bool = Field(
        description="Use beyond the limit is billed as overage (not refused)."
    )
    hard: bool = Field(description="Use beyond the limit is refused.")


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Stable per notice: limit, threshold and day.")
    limit_name: str
    threshold: int
    day: date
    message: str
    created_at: datetime
    upgrade_url: str


class NoticesOut(BaseModel):
    notices: list[NoticeOut]
    upgrade_url: str


class UsageOut(BaseModel):
    plan: PlanOut
    day_started_at: datetime
    resets_at: datetime
    minutes_used: float = Field(description="Session minutes used today (UTC day).")
    minutes_left: float | None = Field(description="None: the plan has no daily limit.")
    warn_minutes: int = Field(
        description="The platform warns (and JupyterLab shows a notice) at this many minutes left."
    )
    sessions: list[SessionOut]
    meters: list[MeterOut] = Field(
        default_factory=list, description="Every daily limit of the plan, and today's use."
    )
    notices: list[NoticeOut] = Field(
        default_factory=list, description="Today's notices (80% and 100% of a limit)."
    )
    upgrade_url: str = ""


class PlanChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_code: str = Field(min_length=1, max_length=32)


class PlanIn(BaseModel):
    """A plan's name and limits; ``None`` in a limit means unlimited."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    rank: int = Field(ge=0, le=1000)
    price_cents_per_month: int | None = Field(default=None, ge=0)
    cpu_limit: float = Field(gt=0, le=256)
    memory_limit_mb: int = Field(ge=128, le=1_048_576)
    daily_minutes: int | None = Field(default=None, ge=0, le=1440)
    idle_timeout_minutes: int = Field(ge=1, le=10_080)
    named_servers: int = Field(ge=1, le=100)
    storage_gb: int = Field(ge=1, le=100_000)
    generations_per_day: int | None = Field(default=None, ge=0)
    assistant_requests_per_day: int | None = Field(default=None, ge=0)


class OrganisationMetersOut(BaseModel):
    tenant_id: uuid.UUID
    day: date
    meters: dict[str, int] = Field(description="Sums over the organisation's members today.")
