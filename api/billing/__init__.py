"""Billing: plans and bundles sold through Stripe, and the usage people are told about.

Stripe holds subscriptions and payments; the plans table stays the source of every limit.
Without a Stripe key (``DATAZENTR_STRIPE_SECRET_KEY``) nothing here sells anything: plans
are the free one or those an admin assigns, as before.
"""

from __future__ import annotations

from api.core.config import Settings
from api.core.names import API_PREFIX

# The account page where people see their plan, upgrade and manage billing.
BILLING_PAGE = "accounts/billing"


def billing_page_url(settings: Settings) -> str:
    """The absolute address of the billing page, for mails, notices and Stripe's returns."""
    return f"{settings.public_base_url}{API_PREFIX.lstrip('/')}{BILLING_PAGE}"
