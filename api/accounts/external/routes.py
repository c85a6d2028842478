"""The pages that start and finish a sign-in with an outside identity provider."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/accounts", include_in_schema=False)
