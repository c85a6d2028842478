"""Reading and changing the marketplace for one person (a pattern ``Viewer``).

A person sees the global catalogue and their tenant's bundles; inside a bundle only the
patterns they may read. Everything else answers 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing.purchases import owned_bundles, owns
from api.errors import ApiError, NotFound
from api.models import Bundle, BundleInstall, BundlePattern, BundleRating, Pattern
from api.patterns.access import Viewer, visible_to
from api.schemas.marketplace import BundleOut, CategoryOut, IncludedPattern, LibraryPattern

PURCHASE_NOTE = (
    "Paid bundles cannot be bought on this platform: billing is not enabled. "
    "Free bundles install now."
)
BUY_NOTE = (
    "Buy it first: POST /marketplace/bundles/{id}/purchase, or its page "
    "accounts/billing/bundles/{id}."
)


class PaymentRequired(ApiError):
    status = 402
    code = "payment_required"


def bundle_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.tenant_id is None:
        return Bundle.tenant_id.is_(None)
    return or_(Bundle.tenant_id.is_(None), Bundle.tenant_id == viewer.tenant_id)


def price_label(bundle: Bundle) -> str:
    if bundle.price_cents == 0:
        return "Free"
    symbol = "$" if bundle.currency == "USD" else f"{bundle.currency} "
    return f"{symbol}{bundle.price_cents / 100:.2f}"


def _filtered(
    viewer: Viewer, query: str | None, category: str | None, featured: bool | None
) -> Select[Bundle]:
    statement = select(Bundle).where(bundle_visible(viewer))
    if category:
        statement = statement.where(Bundle.category == category)
    if featured is not None:
        statement = statement.where(Bundle.featured.is_(featured))
    if query:
        like = f"%{query.lower()}%"
        statement = statement.where(
            or_(func.lower(Bundle.title).like(like), func.lower(Bundle.description).like(like))
        )
    return statement.order_by(Bundle.featured.desc(), Bundle.title)


async def describe(
    session: AsyncSession,
    viewer: Viewer,
    bundles: Sequence[Bundle],
    *,
    billing_enabled: bool = False,
) -> list[BundleOut]:
    """Bundles with their ratings, downloads, the viewer's state and visible patterns."""
    ids = [b.id for b in bundles]
    if not ids:
        return []
    ratings = {
        bundle_id: (float(average), int(count))
        for bundle_id, average, count in (
            await session.execute(
                select(BundleRating.bundle_id, func.avg(BundleRating.stars), func.count())
                .where(BundleRating.bundle_id.in_(ids))
                .group_by(BundleRating.bundle_id)
            )
        )
    }
    mine = dict(
        (
            await session.execute(
                select(BundleRating.bundle_id, BundleRating.stars).where(
                    BundleRating.bundle_id.in_(ids), BundleRating.user_name == viewer.name
                )
            )
        ).all()
    )
    installed = set(
        await session.scalars(
            select(BundleInstall.bundle_id).where(
                BundleInstall.bundle_id.in_(ids), BundleInstall.user_name == viewer.name
            )
        )
    )
    owned = await owned_bundles(session, viewer.name, ids)
    included: dict[uuid.UUID, list[IncludedPattern]] = {i: [] for i in ids}
    rows = await session.execute(
        select(BundlePattern.bundle_id, Pattern)
        .join(Pattern, Pattern.id == BundlePattern.pattern_id)
        .where(BundlePattern.bundle_id.in_(ids), visible_to(viewer))
        .order_by(BundlePattern.position)
    )
    for bundle_id, pattern in rows:
        included[bundle_id].append(
            IncludedPattern(
                id=pattern.id, title=pattern.title, kind=pattern.kind, language=pattern.language
            )
        )
    result = []
    for bundle in bundles:
        average, count = ratings.get(bundle.id, (None, 0))
        paid = bundle.price_cents > 0
        result.append(
            BundleOut.model_validate(
                {
                    "id": bundle.id,
                    "title": bundle.title,
                    "description": bundle.description,
                    "author": bundle.author,
                    "category": bundle.category,
                    "price_cents": bundle.price_cents,
                    "currency": bundle.currency,
                    "price_label": price_label(bundle),
                    "featured": bundle.featured,
                    "rating_average": round(average, 2) if average is not None else None,
                    "rating_count": count,
                    "downloads": bundle.downloads,
                    "my_rating": mine.get(bundle.id),
                    "installed": bundle.id in installed,
                    "patterns": included[bundle.id],
                    "purchase_available": paid and billing_enabled and bundle.id not in owned,
                    "purchase_note": PURCHASE_NOTE if paid and not billing_enabled else None,
                    "owned": paid and bundle.id in owned,
                    # What it earns is its author's to know.
                    "sales": bundle.sales if bundle.author == viewer.name else None,
                }
            )
        )
    return result


async def list_bundles(
    session: AsyncSession,
    viewer: Viewer,
    *,
    query: str | None = None,
    category: str | None = None,
    featured: bool | None = None,
    billing_enabled: bool = False,
) -> list[BundleOut]:
    bundles = list(await session.scalars(_filtered(viewer, query, category, featured)))
    return await describe(session, viewer, bundles, billing_enabled=billing_enabled)


async def categories(session: AsyncSession, viewer: Viewer) -> list[CategoryOut]:
    rows = await session.execute(
        select(Bundle.category, func.count())
        .where(bundle_visible(viewer))
        .group_by(Bundle.category)
        .order_by(Bundle.category)
    )
    return [CategoryOut.model_validate({"category": c, "bundles": n}) for c, n in rows]


async def get_bundle(session: AsyncSession, viewer: Viewer, bundle_id: uuid.UUID) -> Bundle:
    bundle = await session.scalar(
        select(Bundle).where(Bundle.id == bundle_id, bundle_visible(viewer))
    )
    if bundle is None:
        raise NotFound(f"No bundle {bundle_id} that you can see in the marketplace.")
    return bundle


async def rate(session: AsyncSession, viewer: Viewer, bundle_id: uuid.UUID, stars: int) -> None:
    await get_bundle(session, viewer, bundle_id)
    statement = insert(BundleRating).values(bundle_id=bundle_id, user_name=viewer.name, stars=stars)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[BundleRating.bundle_id, BundleRating.user_name],
            set_={"stars": stars, "rated_at": func.now()},
        )
    )
    await session.commit()


async def install(session: AsyncSession, viewer: Viewer, bundle_id: uuid.UUID) -> Bundle:
    """Install a free bundle, or a paid one the viewer bought (again: nothing changes)."""
    bundle = await get_bundle(session, viewer, bundle_id)
    if bundle.price_cents > 0 and not await owns(session, viewer.name, bundle.id):
        raise PaymentRequired(
            f"'{bundle.title}' costs {price_label(bundle)}. " + BUY_NOTE.format(id=bundle.id)
        )
    added = await session.scalar(
        insert(BundleInstall)
        .values(bundle_id=bundle_id, user_name=viewer.name, tenant_id=viewer.tenant_id)
        .on_conflict_do_nothing(index_elements=[BundleInstall.bundle_id, BundleInstall.user_name])
        .returning(BundleInstall.bundle_id)
    )
    if added is not None:
        await session.execute(
            update(Bundle).where(Bundle.id == bundle_id).values(downloads=Bundle.downloads + 1)
        )
    await session.commit()
    await session.refresh(bundle, ["downloads"])
    return bundle


async def library(session: AsyncSession, viewer: Viewer) -> list[LibraryPattern]:
    """Patterns the viewer has through installed bundles (those they may read)."""
    rows = await session.execute(
        select(Bundle, Pattern)
        .join(BundleInstall, BundleInstall.bundle_id == Bundle.id)
        .join(BundlePattern, BundlePattern.bundle_id == Bundle.id)
        .join(Pattern, Pattern.id == BundlePattern.pattern_id)
        .where(BundleInstall.user_name == viewer.name, bundle_visible(viewer), visible_to(viewer))
        .order_by(Bundle.title, BundlePattern.position)
    )
    return [
        LibraryPattern(
            id=pattern.id,
            title=pattern.title,
            kind=pattern.kind,
            language=pattern.language,
            bundle_id=bundle.id,
            bundle_title=bundle.title,
        )
        for bundle, pattern in rows
    ]
