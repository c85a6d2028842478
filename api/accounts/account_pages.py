"""A signed-in person's own account pages: password, API tokens, sessions, deletion."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/accounts", include_in_schema=False)
