"""An organisation's own views: usage per member from the ledgers (what its admins may
read, the database deciding), its library and projects, and the defaults its members get
(a plan within the organisation's own, the images their servers run)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from api.auth import HubUser
from api.core.config import Settings
from api.core.db import Database
from api.core.names import QUOTA_SERVICE
from api.core.tenancy import PLATFORM
from api.errors import InvalidInput
from api.models import AssistantUsage, Event, ServerSession
from api.organisations import insights
from api.organisations.member_defaults import parse_images
from api.usage import day_bounds, used_seconds_today
from tests.support.accounts import create_person, submit
from tests.support.api import in_process_api
from tests.support.identity import AnyUserIdentity, as_user
from tests.support.organisation_insights import (
    add_assistant_requests,
    add_pattern,
    add_project,
    add_session,
    change_organisation,
    organisation,
    placed_person,
    plan_of,
    usage_rows,
)
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    person_session,
    post_on_page,
    run_by,
    sign_in_to,
)

USAGE = f"{ORGANISATION}/usage"
LIBRARY = f"{ORGANISATION}/library"
DEFAULTS = f"{ORGANISATION}/defaults"
DIGEST = "sha256:" + "ab" * 32


async def save_defaults(
    client: httpx.AsyncClient, *, member_plan: str = "", images: str = "", apply_now: bool = False
) -> httpx.Response:
    data = {"member_plan": member_plan, "images": images}
    if apply_now:
        data["apply_now"] = "yes"
    return await submit(client, DEFAULTS, data)


async def test_usage_per_member_is_read_from_the_ledgers_with_zeros_for_the_idle(
    open_browser: OpenBrowser, database: Database
) -> None:
    browser = await open_browser()
    admin, slug = await run_by(browser, database)
    tenant = await organisation(database, slug)
    member = await placed_person(database, slug, display_name="Alan Turing")
    outsider = await placed_person(database, None)
    now = datetime.now(UTC)
    midnight, _ = day_bounds(now)

    # Sessions: one across midnight (20 min today, 30 yesterday), an hour three days ago,
    # and one ten days ago that is outside the week.
    await add_session(
        database, member, midnight - timedelta(minutes=30), midnight + timedelta(minutes=20)
    )
    three_days = midnight - timedelta(days=3)
    await add_session(database, member, three_days, three_days + timedelta(minutes=60))
    old = midnight - timedelta(days=10)
    await add_session(database, member, old, old + timedelta(minutes=100))
    await add_session(database, outsider, midnight, midnight + timedelta(minutes=30))
    # Generations in the organisation: two today, one two days ago, one too old; one of
    # the member's own outside the organisation does not count.
    for created in (now, now, midnight - timedelta(days=2), midnight - timedelta(days=9)):
        await add_project(database, member, tenant.id, created)
    await add_project(database, member, None, now)
    await add_project(database, outsider, None, now)
    # Assistant requests per day.
    today = midnight.date()
    await add_assistant_requests(database, member, today, 7)
    await add_assistant_requests(database, member, today - timedelta(days=2), 5)
    await add_assistant_requests(database, member, today - timedelta(days=8), 100)
    await add_assistant_requests(database, outsider, today, 40)

    shown = await browser.get(USAGE)
    assert shown.status_code == 200, shown.text
    rows = usage_rows(shown.text)
    assert set(rows) == {admin.username, member.username, ""}
    assert rows[member.username] == {
        "minutes_today": 20.0,
        "minutes_week": 110.0,
        "generations_today": 2,
        "generations_week": 3,
        "assistant_today": 7,
        "assistant_week": 12,
    }
    assert set(rows[admin.username].values()) == {0}
    assert rows[""] == rows[member.username]  # the totals: the admin has none
    assert "Alan Turing" in shown.text and outsider.username not in shown.text

    # Today's minutes are what the plan's own ledger counts for the member.
    async with database.scoped(PLATFORM) as session:
        seconds = await used_seconds_today(session, member.username, now)
    assert round(seconds / 60, 1) == rows[member.username]["minutes_today"]


async def test_another_organisations_admin_and_outsiders_see_none_of_it(
    open_browser: OpenBrowser, database: Database
) -> None:
    first = await open_browser()
    _, slug = await run_by(first, database, name="Acme Research")
    tenant = await organisation(database, slug)
    member = await placed_person(database, slug, display_name="Alan Turing")
    midnight, _ = day_bounds(datetime.now(UTC))
    await add_session(database, member, midnight, midnight + timedelta(minutes=45))
    await add_assistant_requests(database, member, midnight.date(), 9)
    await add_pattern(
        database,
        title="Acme retry helper",
        author=member.username,
        tenant_id=tenant.id,
        visibility="tenant",
    )
    await add_project(database, member, tenant.id, datetime.now(UTC), "Acme's secret service")

    second = await open_browser()
    other_admin, _ = await run_by(second, database, name="Globex Labs")
    usage = await second.get(USAGE)
    assert usage.status_code == 200
    assert member.username not in usage.text and set(usage_rows(usage.text)) == {
        other_admin.username,
        "",
    }
    library = await second.get(LIBRARY)
    assert library.status_code == 200
    assert "Acme retry helper" not in library.text and "secret service" not in library.text

    # The database itself refuses: in the other admin's scope, the first organisation's
    # members and ledgers do not exist.
    async with person_session(database, other_admin) as session:
        rows, total = await insights.usage_per_member(session, tenant, datetime.now(UTC))
        assert rows == [] and total.minutes_today == 0
        seen = await session.scalar(
            select(func.count())
            .select_from(ServerSession)
            .where(ServerSession.hub_name == member.username)
        )
        assert seen == 0
        assert await insights.shared_patterns(session, tenant, other_admin) == []
        assert (
            await insights.organisation_projects(session, tenant, other_admin, everyone=True) == []
        )

    # A person in no organisation is told there is none to show.
    outside = await open_browser()
    await sign_in_to(outside, await create_person(database), "/hub/")
    for path in (USAGE, LIBRARY, DEFAULTS):
        answer = await outside.get(path)
        assert answer.status_code == 404 and "You are in no organisation" in answer.text


async def test_a_plain_member_opens_the_library_but_not_usage_or_defaults(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database, name="Acme Research")
    member = await placed_person(database, slug)
    midnight, _ = day_bounds(datetime.now(UTC))
    await add_session(database, admin, midnight, midnight + timedelta(minutes=15))
    await add_assistant_requests(database, admin, midnight.date(), 3)
    browser = await open_browser()
    await sign_in_to(browser, member, "/hub/")

    page = await browser.get(ORGANISATION)
    assert f'href="{LIBRARY}"' in page.text and f'href="{USAGE}"' not in page.text
    for path in (USAGE, DEFAULTS):
        answer = await browser.get(path)
        assert answer.status_code == 403, answer.text
        assert "Only the admins of Acme Research" in answer.text
    refused = await submit(
        browser, DEFAULTS, {"member_plan": "student", "images": ""}, page=ORGANISATION
    )
    assert refused.status_code == 403
    assert (await organisation(database, slug)).member_plan_code is None
    assert (await browser.get(LIBRARY)).status_code == 200

    # A member's scope reads no one else's ledgers, whatever the query asks.
    async with person_session(database, member) as session:
        for table in (ServerSession, AssistantUsage):
            seen = await session.scalar(
                select(func.count()).select_from(table).where(table.hub_name == admin.username)
            )
            assert seen == 0, table


async def test_the_library_shows_the_organisations_patterns_and_each_member_their_projects(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database)
    tenant = await organisation(database, slug)
    member = await placed_person(database, slug)
    _, other_slug = await run_by(await open_browser(), database, name="Globex Labs")
    other = await organisation(database, other_slug)
    now = datetime.now(UTC)
    shared = await add_pattern(
        database,
        title="Acme retry helper",
        author=member.username,
        tenant_id=tenant.id,
        visibility="tenant",
    )
    await add_pattern(
        database,
        title="Acme private draft",
        author=admin.username,
        tenant_id=tenant.id,
        visibility="private",
    )
    await add_pattern(
        database,
        title="Acme withdrawn helper",
        author=member.username,
        tenant_id=tenant.id,
        visibility="tenant",
        deleted_at=now,
    )
    await add_pattern(
        database,
        title="Globex cache layer",
        author=None,
        tenant_id=other.id,
        visibility="tenant",
    )
    await add_pattern(
        database, title="Global hello world", author=None, tenant_id=None, visibility="public"
    )
    own = await add_project(database, admin, tenant.id, now, "Admin's dashboard")
    theirs = await add_project(database, member, tenant.id, now, "Member's scraper", "failed")
    elsewhere = await add_project(database, admin, other.id, now, "Globex report")

    shown = await admin_browser.get(LIBRARY)
    assert shown.status_code == 200
    text = shown.text
    assert f'data-pattern="{shared}"' in text and "Acme retry helper" in text
    for absent in ("private draft", "withdrawn", "Globex cache", "Global hello", "Globex report"):
        assert absent not in text, absent
    assert f'data-project="{own}"' in text and f'data-project="{theirs}"' in text
    assert f'data-project="{elsewhere}"' not in text
    assert "Member&#39;s scraper" in text and "Failed" in text

    browser = await open_browser()
    await sign_in_to(browser, member, "/hub/")
    mine = (await browser.get(LIBRARY)).text
    assert "Acme retry helper" in mine
    assert f'data-project="{theirs}"' in mine and f'data-project="{own}"' not in mine


async def test_the_member_plan_stays_within_the_organisations_plan_and_applies_on_join(
    open_browser: OpenBrowser, database: Database
) -> None:
    browser = await open_browser()
    admin, slug = await run_by(browser, database, name="Acme Research")
    existing = await placed_person(database, slug)

    # Created by anyone, without a plan of its own: only the default plan to give.
    fresh = await browser.get(DEFAULTS)
    assert set(re.findall(r'<option value="([a-z]+)"', fresh.text)) == {"free"}
    for paid in ("team", "pro"):
        free_ride = await save_defaults(browser, member_plan=paid, apply_now=True)
        assert free_ride.status_code == 422
        assert "has no plan of its own yet" in free_ride.text
    assert await plan_of(database, admin) == "free"
    assert (await organisation(database, slug)).member_plan_code is None

    await change_organisation(database, slug, plan_code="pro")

    form = await browser.get(DEFAULTS)
    assert form.status_code == 200
    offered = set(re.findall(r'<option value="([a-z]+)"', form.text))
    assert offered == {"free", "student", "pro"}
    above = await save_defaults(browser, member_plan="team")
    assert above.status_code == 422
    assert "The Team plan is above Acme Research&#39;s own plan (Pro)" in above.text
    assert "members can get at most Pro" in above.text
    assert (await organisation(database, slug)).member_plan_code is None

    saved = await save_defaults(browser, member_plan="student")
    assert saved.status_code == 303
    assert "The member defaults were saved." in (await browser.get(saved.headers["location"])).text
    assert (await organisation(database, slug)).member_plan_code == "student"
    assert await plan_of(database, existing) == "free"  # existing members keep theirs

    # A person joining (by their address's domain) gets the member plan.
    await change_organisation(database, slug, auto_join=True, email_domains=["example.org"])
    newcomer = await create_person(database)
    newcomer_browser = await open_browser()
    await sign_in_to(newcomer_browser, newcomer, "/hub/")
    joined = await post_on_page(newcomer_browser, f"{ORGANISATION}/join", {"slug": slug})
    assert joined.status_code == 303, joined.text
    assert await plan_of(database, newcomer) == "student"
    async with database.scoped(PLATFORM) as session:
        assigned = await session.scalar(
            select(Event).where(
                Event.stream == f"user:{newcomer.username}", Event.type == "plan.assigned"
            )
        )
    assert assigned is not None and assigned.payload["to"] == "student"

    # Moving everyone now.
    moved = await save_defaults(browser, member_plan="pro", apply_now=True)
    assert moved.status_code == 303
    after = await browser.get(moved.headers["location"])
    assert "3 members were moved." in after.text
    for person in (admin, existing, newcomer):
        assert await plan_of(database, person) == "pro"

    # The plan ends with the membership: removed or leaving, back to the default plan.
    removed = await post_on_page(browser, f"{ORGANISATION}/members/{newcomer.username}/remove")
    assert removed.status_code == 303, removed.text
    assert await plan_of(database, newcomer) == "free"
    existing_browser = await open_browser()
    await sign_in_to(existing_browser, existing, "/hub/")
    gone = await post_on_page(existing_browser, f"{ORGANISATION}/leave")
    assert gone.status_code == 303, gone.text
    assert await plan_of(database, existing) == "free"
    assert await plan_of(database, admin) == "pro"  # still a member
    async with database.scoped(PLATFORM) as session:
        back = await session.scalar(
            select(Event)
            .where(Event.stream == f"user:{existing.username}", Event.type == "plan.assigned")
            .order_by(Event.id.desc())
        )
    assert back is not None and (back.payload["from"], back.payload["to"]) == ("pro", "free")

    # Without a plan of its own (any more), the organisation offers only the default plan.
    await change_organisation(database, slug, plan_code=None)
    team = await save_defaults(browser, member_plan="team")
    assert team.status_code == 422
    assert "only the platform&#39;s default plan (free)" in team.text
    assert (await save_defaults(browser, member_plan="free")).status_code == 303
    assert (await organisation(database, slug)).member_plan_code == "free"


def test_images_are_docker_image_references() -> None:
    allowed = [
        "registry.example.org:5000/team/notebook:2024.1",
        f"jupyter/scipy-notebook@{DIGEST}",
        "python",
    ]
    assert parse_images(
        f"registry.example.org:5000/team/notebook:2024.1\njupyter/scipy-notebook@{DIGEST}, "
        "python jupyter/scipy-notebook@" + DIGEST,
        allowed,
    ) == [
        "registry.example.org:5000/team/notebook:2024.1",
        f"jupyter/scipy-notebook@{DIGEST}",
        "python",
    ]
    assert parse_images("  \n ") == []
    for bad in ("Team/Notebook", "notebook:bad:tag", "-notebook", "a//b", "a@sha256:12", "a:"):
        with pytest.raises(InvalidInput, match="is not a Docker image reference"):
            parse_images(bad, allowed)
    many = [f"team/image-{n}" for n in range(21)]
    with pytest.raises(InvalidInput, match="at most 20"):
        parse_images(" ".join(many), many)


def test_an_organisation_offers_only_images_the_operator_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidInput, match="DATAZENTR_ORGANISATION_IMAGES: none"):
        parse_images("evil/miner:1", [])
    with pytest.raises(InvalidInput, match=r"'evil/miner:1' is not an image the platform"):
        parse_images("python evil/miner:1", ["python"])
    # Unsaid, the allow-list is the platform setting, empty by default.
    default = Settings(_env_file=None)
    assert default.organisation_images == []
    monkeypatch.setattr("api.organisations.member_defaults.get_settings", lambda: default)
    with pytest.raises(InvalidInput, match="DATAZENTR_ORGANISATION_IMAGES"):
        parse_images("python")
    assert Settings(
        _env_file=None, organisation_images=" python, team/a:1 "
    ).organisation_images == [
        "python",
        "team/a:1",
    ]


async def test_the_images_are_saved_shown_and_given_to_the_spawner(
    open_browser: OpenBrowser,
    database: Database,
    org_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allowing = org_settings.model_copy(
        update={
            "organisation_images": [
                "registry.example.org/team/notebook:2024",
                f"jupyter/scipy-notebook@{DIGEST}",
            ]
        }
    )
    monkeypatch.setattr("api.organisations.member_defaults.get_settings", lambda: allowing)
    browser = await open_browser()
    _, slug = await run_by(browser, database, name="Acme Research")
    member = await placed_person(database, slug)
    outsider = await placed_person(database, None)

    refused = await save_defaults(
        browser, images="registry.example.org/team/notebook:2024\nNot An Image!"
    )
    assert refused.status_code == 422
    assert "&#39;Not&#39; is not a Docker image reference" in refused.text
    assert "Not An Image!</textarea>" in refused.text  # what they wrote comes back
    assert (await organisation(database, slug)).images == []

    images = f"registry.example.org/team/notebook:2024\njupyter/scipy-notebook@{DIGEST}"
    saved = await save_defaults(browser, images=images)
    assert saved.status_code == 303
    assert (await organisation(database, slug)).images == images.split("\n")
    shown = await browser.get(DEFAULTS)
    assert '<span class="tag">registry.example.org/team/notebook:2024</span>' in shown.text

    quota = AnyUserIdentity(
        {QUOTA_SERVICE: HubUser(name=QUOTA_SERVICE, admin=False, kind="service")}
    )
    async with in_process_api(org_settings, identity=quota) as client:
        policies = {}
        for person in (member, outsider):
            answer = await client.post(
                "/internal/spawn-policy",
                json={"user": person.username},
                headers=as_user(QUOTA_SERVICE),
            )
            assert answer.status_code == 200, answer.text
            policies[person.username] = answer.json()
    assert policies[member.username]["images"] == images.split("\n")
    assert policies[outsider.username]["images"] == []

    # An image not in the operator's list is refused, and one the operator no longer
    # allows is not given to the spawner.
    unlisted = await save_defaults(browser, images="evil/miner:1")
    assert unlisted.status_code == 422
    assert "DATAZENTR_ORGANISATION_IMAGES" in unlisted.text
    assert (await organisation(database, slug)).images == images.split("\n")
    narrower = allowing.model_copy(
        update={"organisation_images": [f"jupyter/scipy-notebook@{DIGEST}"]}
    )
    monkeypatch.setattr("api.organisations.member_defaults.get_settings", lambda: narrower)
    async with in_process_api(org_settings, identity=quota) as client:
        answer = await client.post(
            "/internal/spawn-policy", json={"user": member.username}, headers=as_user(QUOTA_SERVICE)
        )
    assert answer.json()["images"] == [f"jupyter/scipy-notebook@{DIGEST}"]
