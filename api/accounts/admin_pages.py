"""The platform admins' accounts pages: find people, manage them, import a class."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/accounts", include_in_schema=False)
