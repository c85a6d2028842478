"""The pattern marketplace over HTTP against a real, seeded PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.core.config import Settings
from api.marketplace.seed import FEATURED, load_featured_bundles
from api.patterns.embedder import Embedder
from tests.support.api import tenant_api
from tests.support.database import seeded_database
from tests.support.identity import as_user


@pytest.fixture(scope="module")
def market_settings(pg_settings: Settings, embedder: Embedder) -> Settings:
    url = seeded_database(pg_settings, "marketplace", embedder)
    assert load_featured_bundles(url) == len(FEATURED)
    assert load_featured_bundles(url) == 0  # a second start adds nothing
    return Settings(_env_file=None, data_dir=pg_settings.data_dir, database_url=url)


@pytest.fixture(scope="module")
async def market(market_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with tenant_api(market_settings) as http:
        yield http


async def _bundle(market: httpx.AsyncClient, title: str, user: str = "alice") -> dict[str, object]:
    bundles = (await market.get("/marketplace/bundles", headers=as_user(user))).json()
    return next(b for b in bundles if b["title"] == title)


async def test_featured_bundles_list_with_what_they_include(market: httpx.AsyncClient) -> None:
    response = await market.get("/marketplace/bundles", headers=as_user("alice"))
    assert response.status_code == 200
    bundles = response.json()
    assert {b["title"] for b in bundles} >= {f.title for f in FEATURED}
    starter = next(b for b in bundles if b["title"] == "FastAPI service starter")
    assert starter["featured"] and starter["author"] == "DATAZENtr"
    assert starter["price_label"] == "Free" and starter["purchase_note"] is None
    assert len(starter["patterns"]) == 6
    assert starter["rating_count"] == 0 and starter["rating_average"] is None
    paid = next(b for b in bundles if b["price_cents"] > 0)
    assert paid["price_label"].startswith("$") and not paid["purchase_available"]
    assert "billing is not enabled" in paid["purchase_note"]
    assert not paid["owned"] and paid["sales"] is None  # only its author sees sales


async def test_filter_by_category_and_words(market: httpx.AsyncClient) -> None:
    data = await market.get("/marketplace/bundles?category=data", headers=as_user("dave"))
    assert [b["title"] for b in data.json()] == ["Data pipelines kit"]
    words = await market.get("/marketplace/bundles?q=CONTAINERS", headers=as_user("dave"))
    assert [b["title"] for b in words.json()] == ["Ship it: containers and CI"]
    categories = (await market.get("/marketplace/categories", headers=as_user("dave"))).json()
    assert {"category": "web", "bundles": 1} in categories
    bad = await market.get("/marketplace/bundles?category=games", headers=as_user("dave"))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"


async def test_one_rating_per_person_replaced_by_the_next(market: httpx.AsyncClient) -> None:
    bundle = await _bundle(market, "Testing essentials")
    path = f"/marketplace/bundles/{bundle['id']}/rating"
    assert (await market.put(path, json={"stars": 2}, headers=as_user("alice"))).status_code == 200
    rated = await market.put(path, json={"stars": 4}, headers=as_user("alice"))
    assert rated.json()["my_rating"] == 4 and rated.json()["rating_count"] == 1
    bob = await market.put(path, json={"stars": 5}, headers=as_user("bob"))
    assert bob.json()["rating_count"] == 2 and bob.json()["rating_average"] == 4.5
    assert bob.json()["my_rating"] == 5
    for stars in (0, 6):
        refused = await market.put(path, json={"stars": stars}, headers=as_user("bob"))
        assert refused.status_code == 422


async def test_install_a_free_bundle_into_my_library(market: httpx.AsyncClient) -> None:
    bundle = await _bundle(market, "Data pipelines kit", "carol")
    path = f"/marketplace/bundles/{bundle['id']}/install"
    installed = await market.post(path, headers=as_user("carol"))
    assert installed.status_code == 200, installed.text
    body = installed.json()
    assert body["added_patterns"] == 5 and body["bundle"]["installed"]
    assert body["bundle"]["downloads"] == 1
    again = await market.post(path, headers=as_user("carol"))  # installing twice counts once
    assert again.json()["bundle"]["downloads"] == 1
    library = (await market.get("/marketplace/library", headers=as_user("carol"))).json()
    assert len(library) == 5 and {p["bundle_title"] for p in library} == {"Data pipelines kit"}
    # Someone else sees the download, but not as their own install, nor carol's library.
    dave_view = await _bundle(market, "Data pipelines kit", "dave")
    assert dave_view["downloads"] == 1 and not dave_view["installed"]
    assert (await market.get("/marketplace/library", headers=as_user("dave"))).json() == []


async def test_a_paid_bundle_is_not_installed_before_it_is_bought(
    market: httpx.AsyncClient,
) -> None:
    bundle = await _bundle(market, "Ship it: containers and CI")
    refused = await market.post(
        f"/marketplace/bundles/{bundle['id']}/install", headers=as_user("alice")
    )
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "payment_required" and "$19.00" in error["message"]
    assert "Buy it first" in error["message"]


async def test_unknown_bundles_are_404_and_strangers_401(market: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for method, path in (
        ("GET", f"/marketplace/bundles/{missing}"),
        ("POST", f"/marketplace/bundles/{missing}/install"),
    ):
        response = await market.request(method, path, headers=as_user("alice"))
        assert response.status_code == 404
        assert "marketplace" in response.json()["error"]["message"]
    assert (await market.get("/marketplace/bundles")).status_code == 401


async def test_a_tenants_bundle_is_invisible_to_other_tenants(
    market: httpx.AsyncClient, market_settings: Settings
) -> None:
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.orm import Session

    from api.models import Bundle, Tenant

    engine = create_engine(market_settings.sqlalchemy_url)
    with Session(engine) as session:
        acme = session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        session.add(
            Bundle(
                title="Acme internal kit",
                description="Only for acme.",
                author="alice",
                category="tooling",
                tenant_id=acme,
            )
        )
        session.commit()
        bundle_id = session.scalar(select(Bundle.id).where(Bundle.title == "Acme internal kit"))
        session.execute(text("SELECT 1"))
    engine.dispose()
    bob = await market.get(f"/marketplace/bundles/{bundle_id}", headers=as_user("bob"))
    assert bob.status_code == 200 and bob.json()["patterns"] == []
    carol = await market.get(f"/marketplace/bundles/{bundle_id}", headers=as_user("carol"))
    assert carol.status_code == 404
    listed = (await market.get("/marketplace/bundles", headers=as_user("carol"))).json()
    assert "Acme internal kit" not in {b["title"] for b in listed}
    rate = await market.put(
        f"/marketplace/bundles/{bundle_id}/rating", json={"stars": 1}, headers=as_user("carol")
    )
    assert rate.status_code == 404
