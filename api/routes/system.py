"""Liveness and version: public, for load balancers and operators."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.core.names import API_PREFIX
from api.deps import DatabaseDep, SettingsDep
from api.schemas.system import HealthOut, VersionOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database is unreachable."}},
)
async def health(database: DatabaseDep) -> HealthOut | JSONResponse:
    try:
        await database.ping()
    except Exception as exc:  # any failure to reach the database is "unreachable"
        log.warning("health check: database unreachable: %s", exc)
        body = HealthOut(status="degraded", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthOut(status="ok", database="ok")


@router.get("/version", response_model=VersionOut)
async def version(settings: SettingsDep) -> VersionOut:
    return VersionOut(name="DATAZENtr", version=settings.version, api_prefix=API_PREFIX)
