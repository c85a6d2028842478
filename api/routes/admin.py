"""Platform admins: plans and who is on which plan."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from api.auth import HubUser
from api.deps import AdminUser, SessionDep
from api.errors import NotFound
from api.events import append_event
from api.models import Plan
from api.profiles import get_or_create_profile
from api.schemas.me import PlanOut
from api.schemas.usage import PlanChangeIn, PlanIn

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/plans", response_model=list[PlanOut])
async def list_plans(_: AdminUser, session: SessionDep) -> list[PlanOut]:
    plans = await session.scalars(select(Plan).order_by(Plan.rank))
    return [PlanOut.model_validate(plan) for plan in plans]


@router.put("/plans/{code}", response_model=PlanOut, summary="Create or replace a plan")
async def put_plan(code: str, body: PlanIn, admin: AdminUser, session: SessionDep) -> PlanOut:
    values = body.model_dump()
    await session.execute(
        insert(Plan)
        .values(code=code, **values)
        .on_conflict_do_update(index_elements=[Plan.code], set_=values)
    )
    append_event(
        session, stream=f"plan:{code}", type="plan.changed", actor=admin.name, payload=values
    )
    await session.commit()
    plan = await session.get(Plan, code, populate_existing=True)
    return PlanOut.model_validate(plan)


@router.put("/users/{name}/plan", response_model=PlanOut, summary="Move a user to a plan")
async def change_user_plan(
    name: str, body: PlanChangeIn, admin: AdminUser, session: SessionDep
) -> PlanOut:
    plan = await session.get(Plan, body.plan_code)
    if plan is None:
        raise NotFound(f"There is no plan {body.plan_code!r}; GET /admin/plans lists them.")
    profile = await get_or_create_profile(session, HubUser(name=name, admin=False))
    previous = profile.plan_code
    profile.plan_code = plan.code
    append_event(
        session,
        stream=f"user:{name}",
        type="plan.assigned",
        actor=admin.name,
        payload={"from": previous, "to": plan.code},
    )
    await session.commit()
    return PlanOut.model_validate(plan)
