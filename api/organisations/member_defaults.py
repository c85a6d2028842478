"""What an organisation gives its members: the plan a new member gets (within the
organisation's own plan) and the images their servers may run.

An organisation with a plan of its own (what billing sells it) offers plans up to that
plan's rank; one without offers only the platform's default plan, so creating an
organisation gives nobody a paid plan. The member plan applies when a person joins
(:func:`api.organisations.membership.join`) and, when its admin asks, to everyone in it now.
The images are Docker image references, each one the operator allows organisations to
offer (the ``organisation_images`` setting); none listed means the platform's default
image. The hub reads them in the spawn policy (:func:`images_for`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import environment_name, get_settings
from api.errors import InvalidInput
from api.events import append_event
from api.models import Account, Plan, Tenant, UserProfile
from api.models.profile import DEFAULT_PLAN
from api.organisations.membership import admin_of, assign_plan

log = logging.getLogger(__name__)

MAX_IMAGES = 20
MAX_IMAGE_LENGTH = 255

# Docker's image reference grammar (distribution/reference): [domain/]path[:tag][@digest].
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)


# Plans --------------------------------------------------------------------------------------


async def offered_plans(session: AsyncSession, tenant: Tenant) -> list[Plan]:
    """The plans the organisation may give its members, smallest first."""
    query = select(Plan).order_by(Plan.rank, Plan.code)
    ceiling = await session.get(Plan, tenant.plan_code) if tenant.plan_code else None
    if ceiling is not None:
        query = query.where(Plan.rank <= ceiling.rank)
    else:
        query = query.where(Plan.code == DEFAULT_PLAN)
    return list(await session.scalars(query))


async def check_member_plan(session: AsyncSession, tenant: Tenant, code: str) -> Plan | None:
    """The plan ``code`` names if the organisation may give it (empty: no member plan)."""
    code = code.strip()
    if not code:
        return None
    plan = await session.get(Plan, code)
    if plan is None:
        raise InvalidInput.at(
            "member_plan", f"There is no plan {code!r}; choose one from the list."
        )
    if plan.code not in {offered.code for offered in await offered_plans(session, tenant)}:
        ceiling = await session.get(Plan, tenant.plan_code) if tenant.plan_code else None
        if ceiling is not None:
            raise InvalidInput.at(
                "member_plan",
                f"The {plan.name} plan is above {tenant.name}'s own plan ({ceiling.name}): "
                f"members can get at most {ceiling.name}. Choose a plan up to it, or ask "
                "the platform's operator for a larger plan for the organisation.",
            )
        raise InvalidInput.at(
            "member_plan",
            f"{tenant.name} has no plan of its own yet, so its members can get only the "
            f"platform's default plan ({DEFAULT_PLAN}). Larger member plans come with a "
            "plan for the organisation.",
        )
    return plan


# Images -------------------------------------------------------------------------------------


def operator_images() -> list[str]:
    """The images the platform's operator lets organisations offer (the setting)."""
    return list(get_settings().organisation_images)


def parse_images(value: str, allowed: Sequence[str] | None = None) -> list[str]:
    """Image references, one a line (or separated by commas or spaces), in their order;
    each must be one the operator allows (``allowed``, default the setting)."""
    permitted = operator_images() if allowed is None else list(allowed)
    images: list[str] = []
    for part in re.split(r"[\s,]+", value.strip()):
        if not part:
            continue
        if len(part) > MAX_IMAGE_LENGTH or not _REFERENCE.match(part):
            raise InvalidInput.at(
                "images",
                f"{part[:80]!r} is not a Docker image reference; write them like "
                "registry.example.org/team/notebook:2024 or jupyter/scipy-notebook "
                "(lower-case name, optional :tag and @sha256:digest).",
            )
        if part not in permitted:
            setting = environment_name("organisation_images")
            raise InvalidInput.at(
                "images",
                f"{part[:80]!r} is not an image the platform's operator allows organisations "
                f"to offer ({setting}: "
                + (", ".join(permitted) if permitted else "none")
                + "). Ask the operator to add it, or choose one of those.",
            )
        if part not in images:
            images.append(part)
    if len(images) > MAX_IMAGES:
        raise InvalidInput.at("images", f"List at most {MAX_IMAGES} images.")
    return images


async def images_for(
    session: AsyncSession, hub_name: str, allowed: Sequence[str] | None = None
) -> list[str]:
    """The images a person's servers may run: those of their organisation's list the
    operator still allows (``allowed``, default the setting; empty: the platform's
    default image)."""
    permitted = set(operator_images() if allowed is None else allowed)
    images = await session.scalar(
        select(Tenant.images)
        .join(UserProfile, UserProfile.tenant_id == Tenant.id)
        .where(UserProfile.hub_name == hub_name)
    )
    return [image for image in images or [] if image in permitted]


# Saving -------------------------------------------------------------------------------------


async def update_defaults(
    session: AsyncSession,
    account: Account,
    *,
    member_plan: str,
    apply_now: bool,
    images: str,
    allowed_images: Sequence[str] | None = None,
) -> tuple[Tenant, int]:
    """Save the organisation's member plan and images; with ``apply_now``, move its
    members to the member plan as well (images: within ``allowed_images``, default the
    operator's setting). The organisation, and how many members moved."""
    tenant = await admin_of(session, account, "change its member defaults")
    plan = await check_member_plan(session, tenant, member_plan)
    image_list = parse_images(images, allowed_images)
    if apply_now and plan is None:
        raise InvalidInput.at("member_plan", "Choose the plan to move the members to.")
    tenant.member_plan_code = plan.code if plan else None
    tenant.images = image_list
    moved = 0
    if apply_now and plan is not None:
        profiles = await session.scalars(
            select(UserProfile)
            .where(UserProfile.tenant_id == tenant.id)
            .order_by(UserProfile.hub_name)
            .with_for_update(of=UserProfile)
        )
        for profile in profiles:
            if assign_plan(session, profile, plan.code, actor=account.username, tenant=tenant):
                moved += 1
    append_event(
        session,
        stream=f"tenant:{tenant.slug}",
        type="tenant.defaults_changed",
        actor=account.username,
        payload={
            "tenant": tenant.slug,
            "member_plan": tenant.member_plan_code,
            "images": image_list,
            "members_moved": moved,
        },
        tenant_id=tenant.id,
    )
    await session.commit()
    log.info(
        "%s changed the member defaults of %s (%d members moved)",
        account.username,
        tenant.slug,
        moved,
    )
    return tenant, moved
