"""The response body of the admins' billing dashboard (computed in api.billing.analytics)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class Trials(BaseModel):
    now: int = Field(description="Subscriptions trialing now.")
    ended: int = Field(description="Subscriptions whose trial ended in the window.")
    converted: int = Field(description="Of those, the ones active now.")
    conversion_rate: float = Field(description="converted / ended (0..1); 0 without trials.")


class Churn(BaseModel):
    active_at_start: int = Field(description="Subscriptions paying at the window's start.")
    churned: int = Field(description="Of those, the ones canceled in the window.")
    canceled: int = Field(description="All subscriptions canceled in the window, trials too.")
    rate: float = Field(description="churned / active_at_start (0..1); 0 without any.")


class PlanSubscriptions(BaseModel):
    plan_code: str
    plan_name: str
    statuses: dict[str, int] = Field(description="Subscriptions on the plan, by Stripe status.")
    total: int
    seats: int = Field(description="Seats (quantity) of its active and trialing subscriptions.")
    mrr_cents: int = Field(description="Its monthly recurring revenue, in cents.")


class PlanUsage(BaseModel):
    plan_code: str
    plan_name: str
    people: int = Field(description="People on the plan who used any meter in the usage days.")
    meters: dict[str, int] = Field(description="Each meter's sum over the usage days.")


class Organisation(BaseModel):
    tenant_id: uuid.UUID
    slug: str
    name: str
    plan_code: str | None
    members: int
    seats: int | None = Field(description="Its cap on members (null: no cap).")
    subscribed_seats: int = Field(
        description="Seats of its active, trialing and past-due subscriptions."
    )


class BundleRevenue(BaseModel):
    purchases: int = Field(description="Paid bundles bought, refunded ones included.")
    refunds: int
    gross_cents: int
    refunded_cents: int
    net_cents: int = Field(description="gross - refunded: what paid bundles kept.")
    net_cents_in_window: int = Field(description="net of the purchases made in the window.")
    net_cents_other_currencies: dict[str, int] = Field(
        description="net of purchases in other currencies, by currency, never converted."
    )


class BillingAnalytics(BaseModel):
    generated_at: datetime
    currency: str = Field(description="The plans' currency; every amount is in its cents.")
    window_days: int = Field(description="Trials, churn and window revenue look this far back.")
    window_start: datetime
    usage_days: int
    usage_from: date = Field(description="The first day (UTC) the usage counts.")
    subscriptions: int = Field(description="Every subscription the platform has a copy of.")
    active: int
    trialing: int
    past_due: int
    mrr_cents: int = Field(description="Monthly recurring revenue of active subscriptions.")
    arr_cents: int = Field(description="mrr_cents * 12.")
    trials: Trials
    churn: Churn
    plans: list[PlanSubscriptions]
    usage: list[PlanUsage]
    organisations: list[Organisation] = Field(description="The largest, by members then seats.")
    bundles: BundleRevenue
    definitions: dict[str, str] = Field(description="What each number means, in words.")
