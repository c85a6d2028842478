"""Fixtures of the billing tests: localstripe with its stand-in for what it lacks, and the
api served on a loopback port (Stripe's webhooks need an address to reach it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.core.config import Settings
from tests.support.billing_site import BillingSite, billing_site_for
from tests.support.smtp import SmtpServer
from tests.support.stripe_server import StripeServers, stripe_servers


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[StripeServers]:
    with stripe_servers(None) as servers:
        yield servers


@pytest.fixture(scope="module")
def site(
    migrated: Settings, stripe_server: StripeServers, mail_server: SmtpServer
) -> Iterator[BillingSite]:
    with billing_site_for(migrated, stripe_server, mail_server) as served:
        yield served
