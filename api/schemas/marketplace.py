"""Request and response bodies of the pattern marketplace."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["web", "data", "devops", "testing", "architecture", "tooling"]


class IncludedPattern(BaseModel):
    id: uuid.UUID
    title: str
    kind: str
    language: str


class BundleOut(BaseModel):
    id: uuid.UUID
    title: str
    description: str
    author: str
    category: Category
    price_cents: int = Field(description="0 for a free bundle.")
    currency: str
    price_label: str = Field(description="'Free' or the price, e.g. '$19.00'.")
    featured: bool
    rating_average: float | None = Field(description="Mean of 1..5 stars; null without ratings.")
    rating_count: int
    downloads: int = Field(description="How many people installed the bundle.")
    my_rating: int | None
    installed: bool
    patterns: list[IncludedPattern] = Field(description="What the bundle includes.")
    purchase_available: bool = Field(description="A paid bundle the viewer can buy now.")
    purchase_note: str | None = Field(description="Why a paid bundle cannot be bought here.")
    owned: bool = Field(default=False, description="A paid bundle the viewer bought.")
    sales: int | None = Field(
        default=None, description="Paid purchases less refunds; shown to its author only."
    )


class CategoryOut(BaseModel):
    category: Category
    bundles: int


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stars: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")


class InstallOut(BaseModel):
    bundle: BundleOut
    added_patterns: int = Field(description="Patterns now in your library through this bundle.")


class LibraryPattern(IncludedPattern):
    bundle_id: uuid.UUID
    bundle_title: str
