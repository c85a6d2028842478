"""Platform admins place people in organisations with their role there."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from api.core.config import Settings
from api.core.db import Database
from api.models import UserProfile
from tests.support.api import in_process_api
from tests.support.identity import as_user, fresh_user


async def _role(database: Database, name: str) -> str | None:
    async with database.sessionmaker() as session:
        role: str | None = await session.scalar(
            select(UserProfile.tenant_role).where(UserProfile.hub_name == name)
        )
        return role


async def test_a_placed_person_is_a_member_or_the_admin_named(
    migrated: Settings, database: Database
) -> None:
    slug = f"org-{uuid.uuid4().hex[:8]}"
    runner, member = fresh_user("runner"), fresh_user("member")
    async with in_process_api(migrated) as api:
        created = await api.post(
            "/admin/tenants", json={"slug": slug, "name": "Org"}, headers=as_user("root")
        )
        assert created.status_code == 201, created.text
        for name, body in ((runner, {"tenant": slug, "role": "admin"}), (member, {"tenant": slug})):
            placed = await api.put(
                f"/admin/users/{name}/tenant", json=body, headers=as_user("root")
            )
            assert placed.status_code == 200, placed.text
        assert await _role(database, runner) == "admin"
        assert await _role(database, member) == "member"
        wrong = await api.put(
            f"/admin/users/{member}/tenant",
            json={"tenant": slug, "role": "owner"},
            headers=as_user("root"),
        )
        assert wrong.status_code == 422
        left = await api.put(
            f"/admin/users/{member}/tenant", json={"tenant": None}, headers=as_user("root")
        )
        assert left.status_code == 200
        assert await _role(database, member) is None
