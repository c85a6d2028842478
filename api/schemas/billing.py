"""Request and response bodies of billing: plans for sale, subscriptions, checkout."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.me import PlanOut


class PlanOffer(PlanOut):
    price_cents_per_year: int | None
    trial_days: int = Field(description="Days of free trial a first subscription gets.")
    per_seat: bool = Field(description="Priced per member: organisations buy it.")
    requires_student_status: bool
    sold: bool = Field(description="Whether it can be bought through Checkout here now.")
    contact_sales: bool = Field(description="Priced by contract: ask the operator.")
    api_calls_per_day: int | None
    agent_steps_per_day: int | None
    patterns_used_per_day: int | None
    assistant_tokens_per_day: int | None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stripe_subscription_id: str
    plan_code: str
    interval: str
    status: str = Field(description="Stripe's status: trialing, active, past_due, canceled...")
    quantity: int = Field(description="Seats (1 for a person's own plan).")
    trial_end: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None


class PurchaseOut(BaseModel):
    bundle_id: uuid.UUID
    bundle_title: str
    amount_cents: int
    currency: str
    status: Literal["paid", "refunded"]
    purchased_at: datetime
    refunded_at: datetime | None


class BillingOut(BaseModel):
    billing_enabled: bool = Field(description="False: plans are free or assigned by admins.")
    plan: PlanOut
    subscriptions: list[SubscriptionOut]
    purchases: list[PurchaseOut]
    billing_page: str = Field(description="Where to upgrade and manage billing in a browser.")


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=32)
    interval: Literal["month", "year"] = "month"


class RedirectOut(BaseModel):
    url: str = Field(description="Open it in a browser: Stripe's checkout or billing portal.")


class SyncedPlanOut(BaseModel):
    code: str
    product_id: str
    prices: dict[str, str]
    created: list[str] = Field(description="What this run made in Stripe (empty: nothing).")
