"""No read path crosses organisations: random organisations, their members and their rows
(patterns and versions, projects and their events, conversations, marketplace bundles and
installs, pattern uses and votes), made through the api as each member; then every read path,
taken as a member of the first organisation (A), shows none of the others' (B's) rows, and
every id of B's answers 404 (never 403: nothing says that the row exists).

Each of B's rows carries a marker word of its own (in its title, description or message), so
a leak shows as B's marker, id, member name or slug anywhere in a body A receives. A's own
rows are found on the same paths, so empty answers cannot pass.

Bundles are the platform's to publish (no api creates one): the test inserts them, one per
organisation and one in the global catalogue holding a pattern of every organisation; the
installs are made through the api.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.models import Bundle, BundleInstall, BundlePattern, BundleRating, Tenant
from api.routes.dashboards import router as dashboards_router
from tests.support.api import in_process_api
from tests.support.assistant import answer_text, ndjson
from tests.support.identity import as_user

pytestmark = pytest.mark.slow

# The generation queue's dashboard, where the api serves it: A's pool, with A's jobs only.
QUEUE = "/dashboards/queue"
QUEUE_SERVED = any(getattr(r, "path", "") == QUEUE for r in dashboards_router.routes)
LETTERS = str.maketrans("0123456789", "ghijklmnop")


def marker() -> str:
    """A word found nowhere else: letters only, so full-text search keeps it whole."""
    return "mark" + uuid.uuid4().hex.translate(LETTERS)


def short_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class MemberPlan:
    patterns: tuple[str, ...]  # visibility of each pattern the member adds
    edit: bool  # edit the first pattern: a second version
    projects: int
    conversations: int
    install: bool
    use: str  # none, passed, failed, thumbs_up, thumbs_down


@dataclass
class Member:
    name: str
    tenant_patterns: list[str] = field(default_factory=list)
    private_patterns: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    markers: dict[str, str] = field(default_factory=dict)  # row id -> its marker
    projects: list[str] = field(default_factory=list)
    finished_project: str | None = None
    conversations: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


@dataclass
class Organisation:
    slug: str
    members: list[Member]
    bundle: str = ""
    bundle_marker: str = ""

    @property
    def tenant_patterns(self) -> list[str]:
        return [p for m in self.members for p in m.tenant_patterns]

    def all_ids(self) -> set[str]:
        ids = {self.bundle}
        for m in self.members:
            ids |= {*m.tenant_patterns, *m.private_patterns, *m.projects, *m.conversations}
            ids |= set(m.uses)
        return ids

    def all_markers(self) -> set[str]:
        return {self.bundle_marker} | {mk for m in self.members for mk in m.markers.values()}


member_plans = st.builds(
    MemberPlan,
    patterns=st.lists(st.sampled_from(["tenant", "private"]), max_size=2).map(tuple),
    edit=st.booleans(),
    projects=st.integers(0, 1),
    conversations=st.integers(0, 1),
    install=st.booleans(),
    use=st.sampled_from(["none", "passed", "failed", "thumbs_up", "thumbs_down"]),
)
# The first member of every organisation has a row of every kind, so each organisation has
# something to leak and A something to find; the rest is drawn.
first_members = member_plans.map(
    lambda p: MemberPlan(
        patterns=("tenant", *p.patterns),
        edit=p.edit,
        projects=1 + p.projects,
        conversations=1,
        install=True,
        use=p.use,
    )
)
organisation_plans = st.tuples(first_members, st.lists(member_plans, max_size=1)).map(
    lambda t: [t[0], *t[1]]
)
worlds = st.lists(organisation_plans, min_size=2, max_size=3)


@dataclass
class World:
    runner: asyncio.Runner
    client: httpx.AsyncClient
    owner_url: str


@pytest.fixture(scope="module")
def world(migrated: Settings) -> Iterator[World]:
    """One event loop for the module's examples, with the api open on it."""
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        client = runner.run(stack.enter_async_context(in_process_api(migrated)))
        try:
            yield World(runner, client, migrated.sqlalchemy_url)
        finally:
            runner.run(stack.aclose())


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.text)
    return response.json()


async def create_organisation(client: httpx.AsyncClient, members: list[str]) -> str:
    slug = f"org-{short_id()}"
    ok(
        await client.post(
            "/admin/tenants", json={"slug": slug, "name": slug}, headers=as_user("root")
        ),
        201,
    )
    for name in members:
        ok(
            await client.put(
                f"/admin/users/{name}/tenant", json={"tenant": slug}, headers=as_user("root")
            )
        )
    return slug


def pattern_body(mark: str, visibility: str) -> dict[str, Any]:
    return {
        "kind": "snippet",
        "title": f"Retry helper {mark}",
        "description": f"Retries a flaky call with backoff; made for {mark}.",
        "language": "python",
        "tags": ["retry"],
        "files": [{"path": "retry.py", "content": f"# {mark}\ndef retry():\n    return 1\n"}],
        "visibility": visibility,
    }


async def add_rows(client: httpx.AsyncClient, member: Member, plan: MemberPlan) -> None:
    """The member's rows, each through the api as the member."""
    who = as_user(member.name)
    for visibility in plan.patterns:
        mark = marker()
        created = ok(
            await client.post("/patterns", json=pattern_body(mark, visibility), headers=who), 201
        )
        assert created["visibility"] == visibility
        pid = str(created["id"])
        (member.tenant_patterns if visibility == "tenant" else member.private_patterns).append(pid)
        member.markers[pid] = mark
        member.versions[pid] = 1
    if plan.edit and plan.patterns:
        first = (member.tenant_patterns + member.private_patterns)[0]
        mark = marker()
        edited = ok(
            await client.patch(
                f"/patterns/{first}", json={"title": f"Retry helper, edited {mark}"}, headers=who
            )
        )
        assert edited["version"] == 2
        member.versions[first] = 2
        member.markers[f"{first}@2"] = mark
    for _ in range(plan.projects):
        mark = marker()
        project = ok(
            await client.post(
                "/projects",
                json={"description": f"A command line tool that counts {mark} words"},
                headers=who,
            ),
            202,
        )
        member.projects.append(str(project["id"]))
        member.markers[str(project["id"])] = mark
    if member.projects:
        # One project ends (cancelled), so its stream ends too; the others stay queued.
        first = member.projects[0]
        assert ok(await client.post(f"/projects/{first}/cancel", headers=who))["status"] == (
            "cancelled"
        )
        member.finished_project = first
    for _ in range(plan.conversations):
        mark = marker()
        response = await client.post(
            "/assistant/chat", json={"message": f"How do I retry {mark} calls?"}, headers=who
        )
        events = ndjson(ok_text(response))
        assert events[0]["type"] == "start" and events[-1]["type"] == "done", events
        conversation = str(events[0]["conversation_id"])
        member.conversations.append(conversation)
        member.markers[conversation] = mark
    patterns = member.tenant_patterns + member.private_patterns
    if plan.use != "none" and patterns:
        target = patterns[0]
        if plan.use in ("passed", "failed"):
            use = ok(await client.post(f"/patterns/{target}/apply", headers=who))
            member.uses.append(str(use["use_id"]))
            body: dict[str, Any] = {"outcome": plan.use, "use_id": use["use_id"]}
        else:
            body = {"outcome": plan.use}
        ok(await client.post(f"/patterns/{target}/feedback", json=body, headers=who))


def ok_text(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.request.url, response.text)
    return response.text


def insert_bundles(owner_url: str, organisations: list[Organisation]) -> str:
    """A bundle of each organisation's tenant patterns, and a global one holding a pattern
    of every organisation; returns the global bundle's id."""
    engine = create_engine(owner_url)
    try:
        with Session(engine) as session:
            for org in organisations:
                tenant = session.scalar(select(Tenant.id).where(Tenant.slug == org.slug))
                org.bundle_marker = marker()
                bundle = Bundle(
                    title=f"Kit {org.bundle_marker}",
                    description=f"The team's own kit for {org.bundle_marker}.",
                    author=org.members[0].name,
                    category="tooling",
                    tenant_id=tenant,
                )
                session.add(bundle)
                session.flush()
                org.bundle = str(bundle.id)
                for position, pid in enumerate(org.tenant_patterns):
                    session.add(
                        BundlePattern(
                            bundle_id=bundle.id, pattern_id=uuid.UUID(pid), position=position
                        )
                    )
            shared = Bundle(
                title=f"Shared kit {short_id()}",
                description="In the global catalogue, with a pattern of every organisation.",
                author="DATAZENtr",
                category="tooling",
            )
            session.add(shared)
            session.flush()
            for position, org in enumerate(organisations):
                session.add(
                    BundlePattern(
                        bundle_id=shared.id,
                        pattern_id=uuid.UUID(org.tenant_patterns[0]),
                        position=position,
                    )
                )
            session.commit()
            return str(shared.id)
    finally:
        engine.dispose()


def remove_bundles(owner_url: str, ids: list[str]) -> None:
    """The example's bundles out of the catalogue, so later tests browse what they expect."""
    engine = create_engine(owner_url)
    try:
        with Session(engine) as session:
            keys = [uuid.UUID(i) for i in ids if i]
            for table in (BundleInstall, BundleRating, BundlePattern):
                session.execute(delete(table).where(table.bundle_id.in_(keys)))
            session.execute(delete(Bundle).where(Bundle.id.in_(keys)))
            session.commit()
    finally:
        engine.dispose()


@dataclass
class Others:
    """What of B's must never reach A."""

    ids: set[str]
    words: set[str]  # markers, member names, slugs

    def assert_absent(self, response: httpx.Response, asked_for: str | None = None) -> None:
        self.assert_not_in(response.text, str(response.request.url), asked_for)

    def assert_not_in(self, body: str, where: str, asked_for: str | None = None) -> None:
        for word in self.words:
            assert word not in body, (where, word, body[:2000])
        for row_id in self.ids - {asked_for}:
            assert row_id not in body, (where, row_id, body[:2000])


async def search(
    client: httpx.AsyncClient, name: str, query: str, others: Others
) -> dict[str, Any]:
    """The search's answer; all but the query it echoes must be free of B's."""
    body = ok(
        await client.post(
            "/patterns/search", json={"query": query, "limit": 50}, headers=as_user(name)
        )
    )
    assert body["query"] == query
    others.assert_not_in(json.dumps({k: v for k, v in body.items() if k != "query"}), query)
    assert isinstance(body, dict)
    return body


async def snapshot(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """What A's member reads that counts rather than lists: must not move when B writes."""
    who = as_user(name)
    status = ok(await client.get("/assistant/status", headers=who))
    queue = ok(await client.get(QUEUE, headers=who)) if QUEUE_SERVED else None
    return {
        "queue": queue,
        "metrics": ok(await client.get("/dashboards/metrics", headers=who)),
        "curve": ok(await client.get("/dashboards/learning-curve?days=7", headers=who)),
        "requests": status["requests_used_today"],
        "patterns": ok(await client.get("/patterns?limit=1", headers=who))["total"],
    }


async def all_patterns(
    client: httpx.AsyncClient, name: str, scope: str, others: Others
) -> set[str]:
    ids: set[str] = set()
    offset: int | None = 0
    while offset is not None:
        response = await client.get(
            "/patterns",
            params={"scope": scope, "limit": 100, "offset": offset},
            headers=as_user(name),
        )
        others.assert_absent(response)
        page = ok(response)
        ids |= {str(p["id"]) for p in page["items"]}
        offset = page["next_offset"]
    return ids


async def get(
    client: httpx.AsyncClient, path: str, name: str, others: Others, **params: Any
) -> httpx.Response:
    response = await client.get(path, params=params, headers=as_user(name))
    others.assert_absent(response)
    return response


async def check_reads_of(
    client: httpx.AsyncClient,
    org: Organisation,
    reader: Member,
    shared_bundle: str,
    others: Others,
    b_orgs: list[Organisation],
) -> None:
    """``reader`` (of A) on every read path: A's rows are there, B's nowhere."""
    who = as_user(reader.name)
    mine_visible = set(org.tenant_patterns) | set(reader.private_patterns)

    # Patterns: list, get by id, versions.
    assert mine_visible <= await all_patterns(client, reader.name, "all", others)
    assert set(org.tenant_patterns) <= await all_patterns(client, reader.name, "tenant", others)
    assert set(reader.private_patterns) <= await all_patterns(client, reader.name, "mine", others)
    for pid in mine_visible:
        assert ok(await get(client, f"/patterns/{pid}", reader.name, others))["id"] == pid
        owner = next(m for m in org.members if pid in m.versions)
        versions = ok(await get(client, f"/patterns/{pid}/versions", reader.name, others))
        assert len(versions) == owner.versions[pid]

    # Search (meaning and keywords at once): B's markers and B's own words find nothing of
    # B's; A's marker finds A's pattern by its keyword.
    b_patterns = [(m, pid) for o in b_orgs for m in o.members for pid in m.versions]
    for member, pid in b_patterns:
        mark = member.markers[pid]
        for query in (mark, f"Retries a flaky call with backoff; made for {mark}."):
            await search(client, reader.name, query, others)
    own = org.tenant_patterns[0]
    own_marker = next(m.markers[own] for m in org.members if own in m.markers)
    results = (await search(client, reader.name, own_marker, others))["results"]
    hits = {str(r["pattern"]["id"]): r for r in results}
    assert own in hits and hits[own]["explanation"]["keyword_rank"] is not None

    # Export.
    for scope in ("all", "tenant", "mine"):
        response = await get(
            client, "/patterns/export", reader.name, others, scope=scope, embeddings="false"
        )
        exported = ok_text(response)
        if scope != "mine":
            assert own_marker in exported
        lines = [json.loads(line) for line in exported.splitlines() if line.strip()]
        assert all(isinstance(line, dict) for line in lines)

    # Dashboards.
    for path in ("/dashboards/metrics", "/dashboards/learning-curve"):
        ok(await get(client, path, reader.name, others))
    for pid in reader.projects:
        body = ok(await get(client, f"/dashboards/orchestration/{pid}", reader.name, others))
        assert body["project_id"] == pid
    if QUEUE_SERVED:
        queue = ok(await get(client, QUEUE, reader.name, others))
        waiting = {str(j["project_id"]) for j in queue["jobs"]}
        assert set(reader.projects) - {reader.finished_project} <= waiting

    # Marketplace: browse, search, categories, A's and the global bundle, the library.
    listed = ok(await get(client, "/marketplace/bundles", reader.name, others))
    assert {org.bundle, shared_bundle} <= {str(b["id"]) for b in listed}
    for b_org in b_orgs:
        found = ok(
            await get(client, "/marketplace/bundles", reader.name, others, q=b_org.bundle_marker)
        )
        assert found == []
    found = ok(await get(client, "/marketplace/bundles", reader.name, others, q=org.bundle_marker))
    assert [str(b["id"]) for b in found] == [org.bundle]
    ok(await get(client, "/marketplace/categories", reader.name, others))
    mine = ok(await get(client, f"/marketplace/bundles/{org.bundle}", reader.name, others))
    assert {str(p["id"]) for p in mine["patterns"]} == set(org.tenant_patterns)
    shared = ok(await get(client, f"/marketplace/bundles/{shared_bundle}", reader.name, others))
    assert {str(p["id"]) for p in shared["patterns"]} == {org.tenant_patterns[0]}
    library = ok(await get(client, "/marketplace/library", reader.name, others))
    if reader is org.members[0]:  # the first member installed both bundles
        assert set(org.tenant_patterns) <= {str(p["id"]) for p in library}

    # Projects, their events, stream and time machine.
    projects = ok(await get(client, "/projects", reader.name, others))
    assert set(reader.projects) <= {str(p["id"]) for p in projects}
    for pid in reader.projects:
        assert ok(await get(client, f"/projects/{pid}", reader.name, others))["id"] == pid
        events = ok(await get(client, f"/projects/{pid}/events", reader.name, others))
        assert events and events[0]["type"] == "project.created"
        assert ok(await get(client, f"/projects/{pid}/points", reader.name, others))
        ok(await get(client, f"/projects/{pid}/state", reader.name, others))
        ok(await get(client, f"/projects/{pid}/diff", reader.name, others, **{"from": 0}))
        download = await client.get(f"/projects/{pid}/download", headers=who)
        assert download.status_code == 200
    if reader.finished_project is not None:
        stream = ok_text(
            await get(client, f"/projects/{reader.finished_project}/stream", reader.name, others)
        )
        assert "event: project.created" in stream and "event: project.cancelled" in stream

    # Conversations.
    conversations = ok(await get(client, "/assistant/conversations", reader.name, others))
    assert set(reader.conversations) <= {str(c["id"]) for c in conversations["conversations"]}
    for cid in reader.conversations:
        messages = ok(await get(client, f"/assistant/conversations/{cid}", reader.name, others))
        assert reader.markers[cid] in messages["messages"][0]["content"]

    # Who I am and my usage.
    for path in ("/me", "/me/usage", "/assistant/status"):
        ok(await get(client, path, reader.name, others))


async def check_b_ids_are_missing(
    client: httpx.AsyncClient,
    reader: Member,
    a_org: Organisation,
    b_orgs: list[Organisation],
    others: Others,
) -> None:
    """Every id of B's, on every path that takes it, is 404: exactly as a missing one."""
    who = as_user(reader.name)

    async def missing(method: str, path: str, row_id: str, **kwargs: Any) -> None:
        response = await client.request(method, path, headers=who, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        others.assert_absent(response, asked_for=row_id)

    a_pattern = a_org.tenant_patterns[0]
    for b_org in b_orgs:
        b = b_org.bundle
        await missing("GET", f"/marketplace/bundles/{b}", b)
        await missing("PUT", f"/marketplace/bundles/{b}/rating", b, json={"stars": 1})
        await missing("POST", f"/marketplace/bundles/{b}/install", b)
        for member in b_org.members:
            for pid, versions in member.versions.items():
                await missing("GET", f"/patterns/{pid}", pid)
                await missing("GET", f"/patterns/{pid}/versions", pid)
                for version in range(1, versions + 1):
                    await missing("GET", f"/patterns/{pid}/versions/{version}", pid)
                await missing("POST", f"/patterns/{pid}/apply", pid)
                await missing(
                    "POST", f"/patterns/{pid}/feedback", pid, json={"outcome": "thumbs_down"}
                )
                await missing("PATCH", f"/patterns/{pid}", pid, json={"title": "Taken over"})
                await missing("POST", f"/patterns/{pid}/contribute", pid)
                await missing("DELETE", f"/patterns/{pid}", pid)
            for use in member.uses:
                await missing(
                    "POST",
                    f"/patterns/{a_pattern}/feedback",
                    use,
                    json={"outcome": "passed", "use_id": use},
                )
            for pid in member.projects:
                for path in ("", "/events", "/points", "/state", "/download"):
                    await missing("GET", f"/projects/{pid}{path}", pid)
                await missing("GET", f"/projects/{pid}/diff?from=0", pid)
                for follow in ("false", "true"):
                    await missing("GET", f"/projects/{pid}/stream?follow_until_done={follow}", pid)
                await missing("GET", f"/dashboards/orchestration/{pid}", pid)
                await missing("POST", f"/projects/{pid}/cancel", pid)
                await missing("POST", f"/projects/{pid}/retry", pid)
                await missing("POST", f"/projects/{pid}/restore", pid, json={"seq": 1})
            for cid in member.conversations:
                await missing("GET", f"/assistant/conversations/{cid}", cid)
                await missing(
                    "POST",
                    "/assistant/chat",
                    cid,
                    json={"message": "And then?", "conversation_id": cid},
                )
                await missing("DELETE", f"/assistant/conversations/{cid}", cid)


async def run_example(world: World, plans: list[list[MemberPlan]]) -> None:
    client = world.client
    organisations: list[Organisation] = []
    shared_bundle = ""
    before: dict[str, dict[str, Any]] = {}
    try:
        for index, org_plan in enumerate(plans):
            members = [Member(name=f"m{short_id()}") for _ in org_plan]
            org = Organisation(
                await create_organisation(client, [m.name for m in members]), members
            )
            organisations.append(org)
            for member, plan in zip(members, org_plan, strict=True):
                await add_rows(client, member, plan)
            if index == 0:
                # What A counts, before any other organisation writes a row.
                before = {m.name: await snapshot(client, m.name) for m in members}
        shared_bundle = insert_bundles(world.owner_url, organisations)
        for org, org_plan in zip(organisations, plans, strict=True):
            for member, plan in zip(org.members, org_plan, strict=True):
                if plan.install:
                    for bundle in (org.bundle, shared_bundle):
                        ok(
                            await client.post(
                                f"/marketplace/bundles/{bundle}/install",
                                headers=as_user(member.name),
                            )
                        )
                ok(
                    await client.put(
                        f"/marketplace/bundles/{shared_bundle}/rating",
                        json={"stars": 3},
                        headers=as_user(member.name),
                    )
                )

        a_org, b_orgs = organisations[0], organisations[1:]
        others = Others(
            ids={i for o in b_orgs for i in o.all_ids()},
            words={w for o in b_orgs for w in o.all_markers()}
            | {m.name for o in b_orgs for m in o.members}
            | {o.slug for o in b_orgs},
        )
        for reader in a_org.members:
            after = await snapshot(client, reader.name)
            assert after == before[reader.name]
            await check_reads_of(client, a_org, reader, shared_bundle, others, b_orgs)
            await check_b_ids_are_missing(client, reader, a_org, b_orgs, others)
            # The offline assistant answers from the library: asked what B's patterns are
            # about (in words, not by their markers), it cites none of them.
            response = await client.post(
                "/assistant/chat",
                json={"message": "How do I retry a flaky call with backoff?"},
                headers=as_user(reader.name),
            )
            others.assert_absent(response)
            events = ndjson(ok_text(response))
            assert answer_text(events) and events[-1]["type"] == "done", events
    finally:
        remove_bundles(world.owner_url, [o.bundle for o in organisations] + [shared_bundle])


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    # Each example takes seconds: a failure is reported as found, without shrinking for minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=worlds)
def test_no_read_path_shows_another_organisations_rows(
    world: World, plans: list[list[MemberPlan]]
) -> None:
    world.runner.run(run_example(world, plans))
