"""Health and version answers."""

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]


class VersionOut(BaseModel):
    name: str
    version: str
    api_prefix: str
