"""The pattern marketplace: browse bundles, rate them, install free ones into your library."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.marketplace import catalogue
from api.patterns import library as patterns
from api.schemas.marketplace import (
    BundleOut,
    Category,
    CategoryOut,
    InstallOut,
    LibraryPattern,
    RatingIn,
)

router = APIRouter(prefix="/marketplace", tags=["marketplace"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such bundle among those you can see."}
}


@router.get("/bundles", summary="Bundles you can see, featured first")
async def list_bundles(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Words in title or text")] = None,
    category: Category | None = None,
    featured: bool | None = None,
    *,
    settings: SettingsDep,
) -> list[BundleOut]:
    viewer = await patterns.viewer_for(session, user)
    return await catalogue.list_bundles(
        session,
        viewer,
        query=q,
        category=category,
        featured=featured,
        billing_enabled=settings.billing_enabled,
    )


@router.get("/categories", summary="Categories with how many bundles each has")
async def list_categories(user: CurrentUser, session: SessionDep) -> list[CategoryOut]:
    viewer = await patterns.viewer_for(session, user)
    return await catalogue.categories(session, viewer)


@router.get("/bundles/{bundle_id}", responses=NOT_FOUND)
async def read_bundle(
    bundle_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> BundleOut:
    viewer = await patterns.viewer_for(session, user)
    bundle = await catalogue.get_bundle(session, viewer, bundle_id)
    return (
        await catalogue.describe(
            session, viewer, [bundle], billing_enabled=settings.billing_enabled
        )
    )[0]


@router.put(
    "/bundles/{bundle_id}/rating", responses=NOT_FOUND, summary="Rate a bundle (replaces yours)"
)
async def rate_bundle(
    bundle_id: uuid.UUID,
    body: RatingIn,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> BundleOut:
    viewer = await patterns.viewer_for(session, user)
    await catalogue.rate(session, viewer, bundle_id, body.stars)
    bundle = await catalogue.get_bundle(session, viewer, bundle_id)
    return (
        await catalogue.describe(
            session, viewer, [bundle], billing_enabled=settings.billing_enabled
        )
    )[0]


@router.post(
    "/bundles/{bundle_id}/install",
    responses={**NOT_FOUND, 402: {"description": "A paid bundle you have not bought."}},
    summary="Install a free bundle, or one you bought, into your library",
)
async def install_bundle(
    bundle_id: uuid.UUID, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> InstallOut:
    viewer = await patterns.viewer_for(session, user)
    bundle = await catalogue.install(session, viewer, bundle_id)
    described = (
        await catalogue.describe(
            session, viewer, [bundle], billing_enabled=settings.billing_enabled
        )
    )[0]
    return InstallOut(bundle=described, added_patterns=len(described.patterns))


@router.get("/library", summary="Patterns you have through installed bundles")
async def my_library(user: CurrentUser, session: SessionDep) -> list[LibraryPattern]:
    viewer = await patterns.viewer_for(session, user)
    return await catalogue.library(session, viewer)
