"""Usage meters, their notices and overage, against the real database and a real SMTP
server: each meter moves when its action happens, the 80% and 100% notices are raised and
mailed once, an organisation's admins read its sums, and overage is queued only beyond the
limit of a meter the plan bills, for someone Stripe can bill."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.assistant import usage as assistant_usage
from api.auth import HubUser
from api.billing import billing_page_url, meters, notices, overage
from api.core.config import Settings
from api.core.db import Database
from api.core.names import QUOTA_SERVICE
from api.core.tenancy import person_scope
from api.generation.agents import StepContext, StepOutcome
from api.generation.agents.base import Phase
from api.generation.pipeline import run_project
from api.models import (
    BillingCustomer,
    MeterReport,
    Pattern,
    PatternVersion,
    Plan,
    UsageMeter,
    UsageNotice,
    UserProfile,
)
from api.models.billing import METERS
from api.models.pattern import EMBEDDING_DIMENSION
from api.patterns.embedder import Embedder
from tests.support.accounts import create_account, mail_settings
from tests.support.api import in_process_api
from tests.support.billing import organisation, stripe_id
from tests.support.generation import new_project
from tests.support.identity import USERS, AnyUserIdentity, as_user
from tests.support.smtp import SmtpServer

IDENTITY = AnyUserIdentity(
    {**USERS, QUOTA_SERVICE: HubUser(name=QUOTA_SERVICE, admin=False, kind="service")}
)


async def scratch_plan(database: Database, **limits: Any) -> Plan:
    """A plan of this test's own (ranked below every real one, so never suggested)."""
    values: dict[str, Any] = {
        "cpu_limit": 1,
        "memory_limit_mb": 1024,
        "idle_timeout_minutes": 30,
        "named_servers": 1,
        "storage_gb": 5,
        **limits,
    }
    code = f"t-{uuid.uuid4().hex[:10]}"
    plan = Plan(code=code, name=f"Scratch {code[2:6]}", rank=-1, **values)
    async with database.sessionmaker() as session:
        session.add(plan)
        await session.commit()
    return plan


async def person_on(database: Database, plan: Plan, *, tenant_id: uuid.UUID | None = None) -> Any:
    """A person with a verified address, on ``plan``; their account."""
    account = await create_account(database)
    async with database.sessionmaker() as session:
        session.add(
            UserProfile(
                hub_name=account.username,
                plan_code=plan.code,
                email=account.email,
                tenant_id=tenant_id,
                tenant_role="member" if tenant_id else None,
            )
        )
        await session.commit()
    return account


async def meter_of(database: Database, name: str, meter: str) -> int:
    async with database.sessionmaker() as session:
        value = await session.scalar(
            select(UsageMeter.quantity).where(
                UsageMeter.hub_name == name,
                UsageMeter.meter == meter,
                UsageMeter.day == meters.utc_day(),
            )
        )
    return int(value or 0)


async def notices_of(database: Database, name: str) -> list[tuple[str, int]]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(UsageNotice.limit_name, UsageNotice.threshold)
            .where(UsageNotice.hub_name == name)
            .order_by(UsageNotice.limit_name, UsageNotice.threshold)
        )
    return [(row[0], row[1]) for row in rows]


@pytest.fixture
def settings(migrated: Settings, mail_server: SmtpServer) -> Settings:
    return mail_settings(migrated, mail_server)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_api(settings, identity=IDENTITY) as client:
        yield client


async def test_api_calls_are_counted_and_notify_at_80_and_100_percent_once_each(
    database: Database, api: httpx.AsyncClient, settings: Settings, mail_server: SmtpServer
) -> None:
    plan = await scratch_plan(database, api_calls_per_day=5)
    person = await person_on(database, plan)
    for _ in range(7):
        answer = await api.get("/me/notices", headers=as_user(person.username))
        assert answer.status_code == 200, answer.text

    assert await meter_of(database, person.username, "api_calls") == 7
    assert await notices_of(database, person.username) == [("api_calls", 80), ("api_calls", 100)]
    mails = mail_server.inbox.to(person.email)
    assert len(mails) == 2
    upgrade = billing_page_url(settings)
    assert all(upgrade in mail.links() for mail in mails)
    assert "4 of your 5 API calls" in mails[0].text
    assert plan.name in mails[0].text and "all 5 API calls" in mails[1].text

    shown = (await api.get("/me/notices", headers=as_user(person.username))).json()
    assert [(n["limit_name"], n["threshold"]) for n in shown["notices"]] == [
        ("api_calls", 80),
        ("api_calls", 100),
    ]
    assert shown["upgrade_url"] == upgrade
    usage = (await api.get("/me/usage", headers=as_user(person.username))).json()
    assert len(usage["notices"]) == 2
    calls = next(m for m in usage["meters"] if m["name"] == "api_calls")
    assert (calls["used"], calls["limit"], calls["hard"]) == (9, 5, False)
    assert len(mail_server.inbox.to(person.email)) == 2  # raised once, mailed once

    # The hub's banner reads them with the quota service's token; a person cannot.
    path = f"/internal/usage-notices/{person.username}"
    for_hub = await api.get(path, headers=as_user(QUOTA_SERVICE))
    assert [n["threshold"] for n in for_hub.json()["notices"]] == [80, 100]
    assert (await api.get(path, headers=as_user(person.username))).status_code == 403


async def test_the_quota_service_is_not_metered_and_its_heartbeat_sets_compute_and_storage(
    database: Database, api: httpx.AsyncClient, mail_server: SmtpServer
) -> None:
    plan = await scratch_plan(database, daily_minutes=10, cpu_limit=2, storage_gb=10)
    person = await person_on(database, plan)
    started = datetime.now(UTC) - timedelta(minutes=9)
    quota = as_user(QUOTA_SERVICE)
    opened = await api.post(
        "/internal/sessions",
        json={"user": person.username, "started_at": started.isoformat(), "event": "start"}
        | {"at": started.isoformat()},
        headers=quota,
    )
    assert opened.status_code == 204, opened.text
    beat = {
        "servers": [{"user": person.username, "started_at": started.isoformat()}],
        "storage": [{"user": person.username, "bytes": 9 * 10**9}],
    }
    answer = await api.post("/internal/heartbeat", json=beat, headers=quota)
    assert answer.status_code == 200, answer.text

    # 9 minutes at 2 CPUs (and the moments the requests took).
    assert 1080 <= await meter_of(database, person.username, "compute_seconds") < 1200
    assert await meter_of(database, person.username, "storage_bytes") == 9 * 10**9
    assert await meter_of(database, QUOTA_SERVICE, "api_calls") == 0
    assert await notices_of(database, person.username) == [
        ("compute_seconds", 80),
        ("daily_minutes", 80),
        ("storage_bytes", 80),
    ]
    assert len(mail_server.inbox.to(person.email)) == 3

    # A later sample replaces the day's, and nothing is raised again.
    beat["storage"] = [{"user": person.username, "bytes": 2 * 10**9}]
    assert (await api.post("/internal/heartbeat", json=beat, headers=quota)).status_code == 200
    assert await meter_of(database, person.username, "storage_bytes") == 2 * 10**9
    assert len(await notices_of(database, person.username)) == 3
    assert len(mail_server.inbox.to(person.email)) == 3


async def test_a_pattern_applied_through_its_endpoint_is_a_pattern_use(
    database: Database, api: httpx.AsyncClient, mail_server: SmtpServer
) -> None:
    plan = await scratch_plan(database, patterns_used_per_day=2)
    person = await person_on(database, plan)
    pattern = Pattern(
        kind="snippet",
        title="Meter test",
        description="A pattern to apply",
        language="python",
        files=[{"path": "a.py", "content": "x = 1\n"}],
        visibility="public",
        embedding=[0.0] * (EMBEDDING_DIMENSION - 1) + [1.0],
        embedding_model="test",
    )
    async with database.sessionmaker() as session:
        session.add(pattern)
        await session.flush()
        session.add(
            PatternVersion(
                pattern_id=pattern.id,
                version=1,
                kind=pattern.kind,
                title=pattern.title,
                description=pattern.description,
                language=pattern.language,
                files=pattern.files,
                licence="MIT",
            )
        )
        await session.commit()
    for expected in (1, 2):
        applied = await api.post(f"/patterns/{pattern.id}/apply", headers=as_user(person.username))
        assert applied.status_code == 200, applied.text
        assert await meter_of(database, person.username, "patterns_used") == expected
    # The second use took it from 50% to 100%: both raised, one mail says the limit is reached.
    assert await notices_of(database, person.username) == [
        ("patterns_used", 80),
        ("patterns_used", 100),
    ]
    mails = mail_server.inbox.to(person.email)
    assert len(mails) == 1 and "all 2 pattern uses" in mails[0].text


class QuickStep:
    phase: Phase = "build"

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(self, context: StepContext) -> StepOutcome:
        return StepOutcome({}, {"passed": True}, f"{self.name} done")


async def test_each_pipeline_step_run_is_an_agent_step_mailed_by_the_heartbeat(
    database: Database, api: httpx.AsyncClient, embedder: Embedder, mail_server: SmtpServer
) -> None:
    plan = await scratch_plan(database, agent_steps_per_day=3)
    person = await person_on(database, plan)
    project_id = await new_project(database, "Three quick steps", owner=person.username)
    steps = [QuickStep("analyse"), QuickStep("architect"), QuickStep("quality_gates")]
    assert await run_project(database, embedder, project_id, steps) == "succeeded"

    assert await meter_of(database, person.username, "agent_steps") == 3
    assert await notices_of(database, person.username) == [
        ("agent_steps", 80),
        ("agent_steps", 100),
    ]
    assert mail_server.inbox.to(person.email) == []  # a job has no mail settings
    beat = await api.post(
        "/internal/heartbeat", json={"servers": []}, headers=as_user(QUOTA_SERVICE)
    )
    assert beat.status_code == 200, beat.text
    # 3 steps of 3: the 80% notice (at the third step too) is not mailed on its own.
    mails = mail_server.inbox.to(person.email)
    assert len(mails) == 1 and "all 3 generation agent steps" in mails[0].text


async def record_tokens(database: Database, name: str, prompt: int, completion: int) -> None:
    async with database.for_person(name) as session:
        await assistant_usage.record_tokens(
            session,
            HubUser(name=name, admin=False),
            prompt_tokens=prompt,
            completion_tokens=completion,
            model_request=True,
        )


async def reports_of(database: Database, customer: str) -> list[tuple[str, int]]:
    async with database.sessionmaker() as session:
        rows = await session.execute(
            select(MeterReport.event_name, MeterReport.value)
            .where(MeterReport.stripe_customer_id == customer)
            .order_by(MeterReport.id)
        )
    return [(row[0], row[1]) for row in rows]


async def customer_of(database: Database, name: str) -> str:
    customer = stripe_id("cus")
    async with database.sessionmaker() as session:
        session.add(BillingCustomer(stripe_customer_id=customer, hub_name=name))
        await session.commit()
    return customer


async def test_overage_is_queued_only_beyond_the_limit_of_a_billed_meter_with_a_customer(
    database: Database,
) -> None:
    billed = await scratch_plan(
        database, assistant_tokens_per_day=100, overage_meters=["assistant_tokens"]
    )
    unbilled = await scratch_plan(database, assistant_tokens_per_day=100)
    person = (await person_on(database, billed)).username
    customer = await customer_of(database, person)

    await record_tokens(database, person, 50, 10)  # 60 of 100
    assert await reports_of(database, customer) == []
    await record_tokens(database, person, 30, 30)  # 120: 20 beyond
    await record_tokens(database, person, 25, 5)  # 150: 30 more
    assert await meter_of(database, person, "assistant_tokens") == 150
    assert await reports_of(database, customer) == [
        ("datazentr_assistant_tokens", 20),
        ("datazentr_assistant_tokens", 30),
    ]
    assert ("assistant_tokens", 100) in await notices_of(database, person)

    # No customer, or a plan that does not bill the meter: nothing queued.
    nobody = (await person_on(database, billed)).username
    await record_tokens(database, nobody, 200, 0)
    other = (await person_on(database, unbilled)).username
    other_customer = await customer_of(database, other)
    await record_tokens(database, other, 200, 0)
    assert await reports_of(database, other_customer) == []
    async with database.sessionmaker() as session:
        queued = await session.scalar(
            select(func.count()).select_from(MeterReport).where(MeterReport.value == 200)
        )
    assert queued == 0

    # The sender's side: pending reports, then marked sent once.
    async with database.sessionmaker() as session:
        mine = [
            r for r in await overage.pending(session, 10_000) if r.stripe_customer_id == customer
        ]
        assert [r.value for r in mine] == [20, 30]
        assert await overage.mark_sent(session, [r.id for r in mine]) == 2
        assert await overage.mark_sent(session, [r.id for r in mine]) == 0
        await session.commit()
        left = [
            r for r in await overage.pending(session, 10_000) if r.stripe_customer_id == customer
        ]
    assert left == []


async def test_a_person_cannot_queue_meter_reports_in_their_own_scope(database: Database) -> None:
    plan = await scratch_plan(
        database, assistant_tokens_per_day=1, overage_meters=["assistant_tokens"]
    )
    person = (await person_on(database, plan)).username
    customer = await customer_of(database, person)
    async with database.for_person(person) as session:
        # Their scope sees no reports, not even those queued for them.
        await meters.use(session, person, "assistant_tokens", 5)
        await session.commit()
        assert list(await session.scalars(select(MeterReport))) == []
    assert await reports_of(database, customer) == [("datazentr_assistant_tokens", 4)]


async def test_a_notice_whose_transaction_rolled_back_is_never_mailed(
    database: Database, settings: Settings, mail_server: SmtpServer
) -> None:
    plan = await scratch_plan(database, api_calls_per_day=1)
    person = await person_on(database, plan)
    async with database.for_person(person.username) as session:
        await meters.use(session, person.username, "api_calls")
        await session.rollback()
        assert await notices.mail_raised(session, settings) == 0
    assert await notices_of(database, person.username) == []
    assert await meter_of(database, person.username, "api_calls") == 0
    async with database.sessionmaker() as session:
        await notices.mail_pending(session, settings)
    assert mail_server.inbox.to(person.email) == []


async def test_an_organisations_admin_reads_its_sums_and_no_other_organisations(
    database: Database, api: httpx.AsyncClient
) -> None:
    first, (admin, member) = await organisation(database)
    second, (other_admin, _) = await organisation(database)
    for name, calls in ((admin, 1), (member, 2), (other_admin, 5)):
        for _ in range(calls):
            assert (await api.get("/me/notices", headers=as_user(name))).status_code == 200

    sums = await api.get("/me/organisation/meters", headers=as_user(admin))
    assert sums.status_code == 200, sums.text
    # The admin's own calls, the member's, and this request itself.
    assert sums.json()["meters"]["api_calls"] == 4
    assert sums.json()["tenant_id"] == str(first)
    other = await api.get("/me/organisation/meters", headers=as_user(other_admin))
    assert other.json()["meters"]["api_calls"] == 6
    refused = await api.get("/me/organisation/meters", headers=as_user(member))
    assert refused.status_code == 403

    # Row-level security itself: the other organisation's admin reads none of these rows.
    async with database.sessionmaker() as session:
        await person_scope(session, other_admin)
        assert await meters.organisation_today(session, first) == dict.fromkeys(METERS, 0)
        seen = await session.scalar(
            select(func.count()).select_from(UsageMeter).where(UsageMeter.tenant_id == first)
        )
    assert seen == 0
    assert second != first
