"""The pattern library over HTTP: lifecycle, versions, feedback, tenants, import, bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.core.db import Database
from api.models import Event
from tests.support.identity import as_user


def new_pattern(title: str | None = None, **overrides: Any) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    body: dict[str, Any] = {
        "kind": "snippet",
        "title": title or f"Widget frobnicator {unique}",
        "description": f"Frobnicates widgets {unique} with a quux strategy.",
        "language": "python",
        "tags": ["widgets", f"t{unique}"],
        "files": [{"path": "frob.py", "content": f"def frob_{unique}():\n    return 42\n"}],
    }
    return body | overrides


async def create(api: httpx.AsyncClient, user: str, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/patterns", json=new_pattern(**overrides), headers=as_user(user))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def search(
    api: httpx.AsyncClient, user: str, query: str, **filters: Any
) -> list[dict[str, Any]]:
    response = await api.post(
        "/patterns/search", json={"query": query, **filters}, headers=as_user(user)
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def events(db: Database, pattern_id: str) -> list[str]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(
            select(Event.type).where(Event.stream == f"pattern:{pattern_id}").order_by(Event.id)
        )
        return list(rows)


async def test_every_endpoint_needs_authentication(api: httpx.AsyncClient) -> None:
    some_id = uuid.uuid4()
    for method, path in [
        ("GET", "/patterns"),
        ("POST", "/patterns"),
        ("POST", "/patterns/search"),
        ("GET", "/patterns/export"),
        ("POST", "/patterns/import"),
        ("GET", f"/patterns/{some_id}"),
        ("PATCH", f"/patterns/{some_id}"),
        ("DELETE", f"/patterns/{some_id}"),
        ("GET", f"/patterns/{some_id}/versions"),
        ("POST", f"/patterns/{some_id}/apply"),
        ("POST", f"/patterns/{some_id}/feedback"),
        ("POST", f"/patterns/{some_id}/contribute"),
        ("POST", "/admin/tenants"),
    ]:
        response = await api.request(method, path)
        assert response.status_code == 401, (method, path)


async def test_search_explains_each_result(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/patterns/search",
        json={"query": "retry HTTP requests with exponential backoff", "limit": 5},
        headers=as_user("dave"),
    )
    body = response.json()
    assert body["embedding_model"] == "all-MiniLM-L6-v2"
    first = body["results"][0]
    assert first["rank"] == 1
    explanation = first["explanation"]
    assert explanation["similarity"] > 0.3
    assert explanation["semantic_rank"] is not None
    assert "by meaning" in explanation["summary"]
    assert "no outcomes reported yet" in explanation["summary"]
    scores = [r["explanation"]["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


async def test_create_edit_keeps_history_and_logs_events(
    api: httpx.AsyncClient, library_db: Database
) -> None:
    created = await create(api, "alice")
    assert (created["version"], created["scope"], created["visibility"]) == (1, "tenant", "tenant")
    assert created["author"] == "alice"
    pid = created["id"]
    edited = await api.patch(
        f"/patterns/{pid}",
        json={"description": "Now with a better quux strategy.", "tags": ["widgets"]},
        headers=as_user("alice"),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2
    unchanged = await api.patch(
        f"/patterns/{pid}", json={"tags": ["widgets"]}, headers=as_user("alice")
    )
    assert unchanged.json()["version"] == 2  # nothing changed: no new version
    versions = (await api.get(f"/patterns/{pid}/versions", headers=as_user("alice"))).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["description"] == created["description"]
    first = await api.get(f"/patterns/{pid}/versions/1", headers=as_user("bob"))
    assert first.json()["edited_by"] == "alice"
    assert (
        await api.get(f"/patterns/{pid}/versions/9", headers=as_user("alice"))
    ).status_code == 404
    assert await events(library_db, pid) == ["pattern.created", "pattern.updated"]


async def test_only_the_author_edits_and_the_global_library_is_curated(
    api: httpx.AsyncClient,
) -> None:
    created = await create(api, "alice")
    by_bob = await api.patch(
        f"/patterns/{created['id']}", json={"title": "Taken over"}, headers=as_user("bob")
    )
    assert by_bob.status_code == 403
    seed = (await search(api, "alice", "typer CLI"))[0]["pattern"]
    assert seed["scope"] == "global"
    assert (
        await api.patch(
            f"/patterns/{seed['id']}", json={"title": "Mine now"}, headers=as_user("alice")
        )
    ).status_code == 403
    public = await api.post(
        "/patterns", json=new_pattern(visibility="public"), headers=as_user("alice")
    )
    assert public.status_code == 403
    assert "contribute" in public.json()["error"]["message"]


async def test_soft_delete_hides_everywhere_but_keeps_history(
    api: httpx.AsyncClient, library_db: Database
) -> None:
    title = f"Disposable grommet {uuid.uuid4().hex[:6]}"
    created = await create(api, "alice", title=title)
    pid = created["id"]
    assert (await api.delete(f"/patterns/{pid}", headers=as_user("alice"))).status_code == 204
    assert (await api.get(f"/patterns/{pid}", headers=as_user("alice"))).status_code == 404
    assert (await api.delete(f"/patterns/{pid}", headers=as_user("alice"))).status_code == 404
    assert pid not in {r["pattern"]["id"] for r in await search(api, "alice", title, limit=50)}
    listing = (await api.get("/patterns?scope=mine&limit=100", headers=as_user("alice"))).json()
    assert pid not in {p["id"] for p in listing["items"]}
    assert await events(library_db, pid) == ["pattern.created", "pattern.deleted"]


async def test_apply_and_feedback_update_counts_once(
    api: httpx.AsyncClient, library_db: Database
) -> None:
    pid = (await create(api, "alice"))["id"]
    applied = await api.post(f"/patterns/{pid}/apply", headers=as_user("bob"))
    assert applied.status_code == 200
    assert applied.json()["pattern"]["usage_count"] == 1
    assert applied.json()["pattern"]["files"][0]["path"] == "frob.py"
    use_id = applied.json()["use_id"]
    passed = await api.post(
        f"/patterns/{pid}/feedback",
        json={"outcome": "passed", "use_id": use_id},
        headers=as_user("bob"),
    )
    assert passed.json()["success_count"] == 1
    again = await api.post(
        f"/patterns/{pid}/feedback",
        json={"outcome": "failed", "use_id": use_id},
        headers=as_user("bob"),
    )
    assert again.status_code == 409
    not_theirs = await api.post(
        f"/patterns/{pid}/feedback",
        json={"outcome": "failed", "use_id": use_id},
        headers=as_user("alice"),
    )
    assert not_theirs.status_code == 404
    for _ in range(2):  # a repeated vote counts once
        up = await api.post(
            f"/patterns/{pid}/feedback", json={"outcome": "thumbs_up"}, headers=as_user("alice")
        )
    assert up.json()["success_count"] == 2
    down = await api.post(
        f"/patterns/{pid}/feedback", json={"outcome": "thumbs_down"}, headers=as_user("alice")
    )
    assert (down.json()["success_count"], down.json()["failure_count"]) == (1, 1)
    no_use = await api.post(
        f"/patterns/{pid}/feedback", json={"outcome": "passed"}, headers=as_user("bob")
    )
    assert no_use.status_code == 422
    assert await events(library_db, pid) == [
        "pattern.created",
        "pattern.applied",
        "pattern.outcome",
        "pattern.voted",
        "pattern.voted",
    ]


async def test_ranking_follows_the_wilson_rule(api: httpx.AsyncClient) -> None:
    """Two equally relevant patterns: 90 of 100 outranks 1 of 1, which outranks 0 of 5."""
    topic = f"zorbulate {uuid.uuid4().hex[:6]}"
    ids = {}
    for name in ("lucky", "proven", "failing"):
        ids[name] = (
            await create(
                api,
                "carol",
                title=f"Zorbulator for {topic}",
                description=f"Zorbulates the {topic} quickly.",
                files=[{"path": "z.py", "content": f"ZORB = '{topic}'\n"}],
            )
        )["id"]

    async def outcome(pid: str, passed: bool) -> None:
        use = (await api.post(f"/patterns/{pid}/apply", headers=as_user("carol"))).json()["use_id"]
        body = {"outcome": "passed" if passed else "failed", "use_id": use}
        assert (
            await api.post(f"/patterns/{pid}/feedback", json=body, headers=as_user("carol"))
        ).status_code == 200

    before = [
        r["pattern"]["id"] for r in await search(api, "carol", f"zorbulator {topic}", limit=3)
    ]
    assert set(before) == set(ids.values())
    await outcome(ids["lucky"], True)
    for i in range(100):
        await outcome(ids["proven"], i < 90)
    for _ in range(5):
        await outcome(ids["failing"], False)
    results = await search(api, "carol", f"zorbulator {topic}", limit=3)
    order = [r["pattern"]["id"] for r in results]
    assert order == [ids["proven"], ids["lucky"], ids["failing"]]
    proven = results[0]["explanation"]
    assert (proven["successes"], proven["failures"], proven["uses"]) == (90, 10, 100)
    assert 0.82 < proven["wilson_lower_bound"] < 0.83
    assert "90 of 100 outcomes succeeded" in proven["summary"]


async def test_filtered_search_returns_k_when_k_exist(api: httpx.AsyncClient) -> None:
    for kind, k in (("architecture_decision", 7), ("deployment_config", 5), ("module", 6)):
        results = await search(api, "dave", "python web application", kinds=[kind], limit=k)
        assert len(results) == k, kind
        assert {r["pattern"]["kind"] for r in results} == {kind}
    yaml = await search(
        api, "dave", "deployment", languages=["yaml"], tags=["docker-compose"], limit=5
    )
    assert [r["pattern"]["seed_key"] for r in yaml] == ["docker-compose-app-postgres"]


async def test_tenant_isolation_on_every_read_path(api: httpx.AsyncClient) -> None:
    secret = f"Acme secret sauce {uuid.uuid4().hex[:6]}"
    shared = await create(api, "alice", title=secret, visibility="tenant")
    private = await create(api, "alice", title=f"{secret} private", visibility="private")
    ids = {shared["id"], private["id"]}

    async def sees(user: str) -> set[str]:
        seen: set[str] = set()
        for pid in ids:
            for path in (f"/patterns/{pid}", f"/patterns/{pid}/versions"):
                if (await api.get(path, headers=as_user(user))).status_code == 200:
                    seen.add(pid)
            if (await api.post(f"/patterns/{pid}/apply", headers=as_user(user))).status_code == 200:
                seen.add(pid)
            vote = {"outcome": "thumbs_down"}
            if (
                await api.post(f"/patterns/{pid}/feedback", json=vote, headers=as_user(user))
            ).status_code == 200:
                seen.add(pid)
            if (
                await api.post(f"/patterns/{pid}/contribute", headers=as_user(user))
            ).status_code == 201:
                seen.add(pid)
        seen |= ids & {r["pattern"]["id"] for r in await search(api, user, secret, limit=50)}
        listing = await api.get("/patterns?limit=100&tag=widgets", headers=as_user(user))
        seen |= ids & {p["id"] for p in listing.json()["items"]}
        export = await api.get("/patterns/export", headers=as_user(user))
        seen |= ids & {json.loads(line)["id"] for line in export.text.splitlines()}
        return seen

    assert await sees("carol") == set()  # another tenant
    assert await sees("dave") == set()  # no tenant
    assert await sees("root") == set()  # an admin of the platform is not a member of acme
    assert await sees("bob") == {shared["id"]}  # same tenant: the shared one only


async def test_contribute_copies_to_the_global_library_anonymously(
    api: httpx.AsyncClient,
) -> None:
    title = f"Contributed gizmo {uuid.uuid4().hex[:6]}"
    source = await create(api, "alice", title=title)
    by_bob = await api.post(f"/patterns/{source['id']}/contribute", headers=as_user("bob"))
    assert by_bob.status_code == 403
    copy = await api.post(f"/patterns/{source['id']}/contribute", headers=as_user("alice"))
    assert copy.status_code == 201
    body = copy.json()
    assert (body["author"], body["scope"], body["visibility"]) == (None, "global", "public")
    assert body["id"] != source["id"] and body["title"] == title
    seen_by_carol = await api.get(f"/patterns/{body['id']}", headers=as_user("carol"))
    assert seen_by_carol.status_code == 200
    assert "alice" not in seen_by_carol.text and "acme" not in seen_by_carol.text


async def test_pagination(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = (
            await api.get(
                f"/patterns?scope=global&limit=25&offset={offset}", headers=as_user("dave")
            )
        ).json()
        seen.extend(p["id"] for p in page["items"])
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == page["total"] >= 61


async def test_export_then_import_round_trip(api: httpx.AsyncClient) -> None:
    export = await api.get("/patterns/export?scope=global", headers=as_user("dave"))
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = export.text.splitlines()
    first = json.loads(lines[0])
    assert len(first["embedding"]) == 384 and first["scope"] == "global"
    imported = await api.post(
        "/patterns/import?visibility=tenant",
        content="\n".join(lines[:3]) + "\n",
        headers=as_user("carol"),
    )
    assert imported.status_code == 201, imported.text
    assert (imported.json()["imported"], imported.json()["embedded"]) == (3, 0)
    copy = (
        await api.get(f"/patterns/{imported.json()['ids'][0]}", headers=as_user("carol"))
    ).json()
    assert (copy["author"], copy["scope"], copy["usage_count"]) == ("carol", "tenant", 0)


async def test_import_is_all_or_nothing(api: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex[:8]
    good = json.dumps(new_pattern(title=f"Import marker {marker}"))
    bad_dimension = json.dumps(new_pattern() | {"embedding": [0.1] * 512})
    response = await api.post(
        "/patterns/import",
        content="\n".join([good, "{not json", bad_dimension, json.dumps({"kind": "poem"})]),
        headers=as_user("alice"),
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("Nothing was imported: 3 lines")
    messages: dict[str, str] = {}
    for item in error["fields"]:
        messages[item["field"]] = messages.get(item["field"], "") + item["message"] + "; "
    assert "not valid JSON" in messages["line 2"]
    assert "has 512 numbers; the pattern library stores 384" in messages["line 3"]
    assert "kind" in messages["line 4"]
    found = await search(api, "alice", f"Import marker {marker}", limit=50)
    assert all(marker not in r["pattern"]["title"] for r in found)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 1_000_000}, "query"),
        ({"query": "cli", "kinds": ["poem"]}, "kinds.0"),
        ({"query": "cli", "languages": ["klingon"]}, "languages.0"),
        ({"query": "cli", "tags": ["Not A Tag!"]}, "tags.0"),
        ({"query": "cli", "limit": 0}, "limit"),
        ({"query": "cli", "kind": "snippet"}, "kind"),
    ],
)
async def test_bad_search_input_is_a_4xx_with_a_message(
    api: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/patterns/search", json=body, headers=as_user("dave"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"][0]["field"] == field
    assert error["message"]


async def test_bad_list_filters_and_bodies(api: httpx.AsyncClient) -> None:
    assert (await api.get("/patterns?kind=poem", headers=as_user("dave"))).status_code == 422
    assert (await api.get("/patterns?scope=tenant", headers=as_user("dave"))).status_code == 422
    empty = await api.post("/patterns/import", content=b"", headers=as_user("dave"))
    assert empty.status_code == 422
    bad_path = new_pattern(files=[{"path": "../etc/passwd", "content": "x"}])
    assert (await api.post("/patterns", json=bad_path, headers=as_user("dave"))).status_code == 422
    no_tenant = await api.post(
        "/patterns", json=new_pattern(visibility="tenant"), headers=as_user("dave")
    )
    assert no_tenant.status_code == 422
    assert (await api.get("/patterns/not-a-uuid", headers=as_user("dave"))).status_code == 422


async def test_tenant_admin_endpoints(api: httpx.AsyncClient) -> None:
    assert (await api.get("/admin/tenants", headers=as_user("alice"))).status_code == 403
    slug = f"t-{uuid.uuid4().hex[:6]}"
    created = await api.post(
        "/admin/tenants", json={"slug": slug, "name": "T"}, headers=as_user("root")
    )
    assert created.status_code == 201
    again = await api.post(
        "/admin/tenants", json={"slug": slug, "name": "T"}, headers=as_user("root")
    )
    assert again.status_code == 409
    listed = (await api.get("/admin/tenants", headers=as_user("root"))).json()
    assert slug in {t["slug"] for t in listed}
    missing = await api.put(
        "/admin/users/x/tenant", json={"tenant": "nope"}, headers=as_user("root")
    )
    assert missing.status_code == 404
    moved = await api.put(
        "/admin/users/erin/tenant", json={"tenant": slug}, headers=as_user("root")
    )
    assert moved.json()["slug"] == slug
    left = await api.put("/admin/users/erin/tenant", json={"tenant": None}, headers=as_user("root"))
    assert left.status_code == 200 and left.json() is None
