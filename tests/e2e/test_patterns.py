"""The pattern library through the running platform, with a real hub token."""

from __future__ import annotations

import httpx
import pytest

from tests.support.hub import HubUser

pytestmark = pytest.mark.slow


def test_seed_library_is_loaded_and_search_ranks_with_reasons(new_user: HubUser) -> None:
    token = new_user.new_token()
    with httpx.Client(
        base_url=f"{new_user.platform.url}/services/api",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    ) as client:
        listing = client.get("/patterns", params={"scope": "global", "limit": 1})
        assert listing.status_code == 200, listing.text
        assert listing.json()["total"] >= 60  # loaded by the launcher on first run
        response = client.post(
            "/patterns/search",
            json={"query": "containerize my python web app", "limit": 3},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        keys = [r["pattern"]["seed_key"] for r in body["results"]]
        assert "dockerfile-python-service" in keys
        assert body["results"][0]["explanation"]["summary"].startswith("Found #")
        empty = client.post("/patterns/search", json={"query": ""})
        assert empty.status_code == 422
    anonymous = httpx.post(
        f"{new_user.platform.url}/services/api/patterns/search", json={"query": "x"}, timeout=30
    )
    assert anonymous.status_code == 401
