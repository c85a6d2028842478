"""The platform admins' accounts pages: who may open them, search, and what an admin does
to an account (disable, role, plan, mails), each an event naming the admin."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser

import httpx
from sqlalchemy import select

from api.accounts.directory import PAGE_SIZE
from api.core.config import Settings
from api.core.db import Database
from api.models import Event, UserProfile
from api.models.account import Account
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    account_pages,
    csrf_token,
    link_path,
    sign_in,
    stored_account,
    submit,
    token_of,
)
from tests.support.admin_pages import (
    ADMIN,
    IMPORT,
    account_page,
    act,
    on_own_database,
    person_with_password,
    send_import,
    signed_in_admin,
)
from tests.support.smtp import SmtpServer

ACTIONS = ("disable", "enable", "role", "plan", "verification", "reset", "invitation")


async def events(database: Database, stream: str) -> list[Event]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(Event).where(Event.stream == stream)))


async def signed_in(browser: httpx.AsyncClient) -> bool:
    answer = await browser.get(f"{PAGES}/sign-out")
    return answer.status_code == 200 and 'action="/services/api/accounts/sign-out"' in answer.text


async def test_anyone_but_a_platform_admin_gets_403_on_every_admin_page_and_form(
    account_settings: Settings, database: Database
) -> None:
    target = await person_with_password(database)
    person = await person_with_password(database, role="org_admin")
    organisations = f"{ADMIN}/organisations"
    pages = [ADMIN, f"{ADMIN}?q=a", account_page(target), IMPORT, organisations]
    forms = [f"{account_page(target)}/{action}" for action in ACTIONS] + [IMPORT]
    forms.append(f"{organisations}/any-organisation/sso-domains")
    async with account_pages(account_settings) as browser:
        for path in pages + forms:
            answer = await (browser.get(path) if path in pages else browser.post(path, data={}))
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith(f"{PAGES}/sign-in?next="), path

        await sign_in(browser, person)
        # A valid form token, so only the admin check can refuse.
        token = csrf_token((await browser.get(f"{PAGES}/sign-out")).text)
        for path in pages:
            answer = await browser.get(path)
            assert answer.status_code == 403, path
            assert "Only the platform's admins" in answer.text
            assert f'href="{ADMIN}"' not in answer.text  # no Admin link in the header
        for path in forms:
            fields = {"csrf_token": token, "role": "platform_admin", "plan": "pro"}
            answer = await browser.post(path, data=fields)
            assert answer.status_code == 403, path
        answer = await browser.post(
            IMPORT,
            data={"csrf_token": token, "action": "import", "csv": "name,email\nA,a@example.org"},
            files={"csv_file": ("", b"", "text/csv")},
        )
        assert answer.status_code == 403
    after = await stored_account(database, target)
    assert after.disabled_at is None and after.role == "developer"
    assert await stored_account(database, person) is not None
    assert (await stored_account(database, person)).role == "org_admin"


async def test_an_admin_sees_the_admin_link_and_searches_accounts_in_pages(
    account_settings: Settings, database: Database
) -> None:
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with database.sessionmaker() as session:
        for number in range(PAGE_SIZE + 1):
            session.add(
                Account(
                    id=uuid.uuid4(),
                    username=f"pg-{tag}-{number}",
                    email=f"pager-{number}-{tag}@Example.org",
                    display_name=f"Pager {tag.upper()} {number}",
                    role="student",
                    session_epoch=0,
                    email_verified_at=now if number % 2 else None,
                )
            )
        session.add(UserProfile(hub_name=f"pg-{tag}-0", plan_code="pro"))
        await session.commit()
    async with account_pages(account_settings) as browser:
        await signed_in_admin(browser, database)
        home = await browser.get(f"{PAGES}/sign-out")
        assert f'href="{ADMIN}"' in home.text

        first = await browser.get(ADMIN, params={"q": tag.upper()})
        assert first.status_code == 200
        assert f"{PAGE_SIZE + 1} accounts match" in first.text
        assert first.text.count(f"pg-{tag}-") == PAGE_SIZE
        assert "Next page" in first.text and "Previous page" not in first.text
        assert "not verified" in first.text and "verified</span>" in first.text
        second = await browser.get(ADMIN, params={"q": tag.upper(), "page": "2"})
        assert second.text.count(f"pg-{tag}-") == 1 and "Previous page" in second.text

        for query in (f"PG-{tag}-7", f"pager-7-{tag}@example.ORG", f"pager {tag} 7"):
            found = await browser.get(ADMIN, params={"q": query})
            assert f"pg-{tag}-7<" in found.text, query
            assert "1 account matches" in found.text, query
        zero = await browser.get(ADMIN, params={"q": f"pg-{tag}-0"})
        assert "<td>pro</td>" in zero.text
        # LIKE wildcards are only characters here.
        nothing = await browser.get(ADMIN, params={"q": f"%{tag}_"})
        assert "No account matches" in nothing.text
        odd = await browser.get(ADMIN, params={"page": "-3'"})
        assert odd.status_code == 200


async def test_disabling_signs_the_person_out_everywhere_until_enabled(
    account_settings: Settings, database: Database
) -> None:
    person = await person_with_password(database)
    async with (
        account_pages(account_settings) as admin_browser,
        account_pages(account_settings) as laptop,
        account_pages(account_settings) as phone,
    ):
        admin = await signed_in_admin(admin_browser, database)
        await sign_in(laptop, person)
        await sign_in(phone, person)
        assert await signed_in(laptop) and await signed_in(phone)

        done = await act(admin_browser, person, "disable")
        assert done.status_code == 303
        shown = await admin_browser.get(done.headers["location"])
        assert "signed out everywhere" in shown.text and "Enable the account" in shown.text
        assert not await signed_in(laptop) and not await signed_in(phone)
        again = await submit(
            laptop,
            f"{PAGES}/sign-in",
            {"email": person.email or "", "password": PASSWORD, "action": "password"},
        )
        assert again.status_code == 401 and "disabled" in again.text
        assert (await stored_account(database, person)).session_epoch == person.session_epoch + 1

        assert (await act(admin_browser, person, "enable")).status_code == 303
        await sign_in(laptop, person)
        assert await signed_in(laptop)
        # An admin cannot disable themself.
        own = await act(admin_browser, admin, "disable")
        assert own.status_code == 409 and "your own account" in own.text
        assert (await stored_account(database, admin)).disabled_at is None
    kinds = [(e.type, e.actor) for e in await events(database, f"account:{person.id}")]
    assert ("account.disabled", admin.username) in kinds
    assert ("account.enabled", admin.username) in kinds


async def test_role_and_plan_changes_are_checked_and_recorded(
    account_settings: Settings, database: Database
) -> None:
    person = await person_with_password(database, role="student")
    async with account_pages(account_settings) as browser:
        admin = await signed_in_admin(browser, database)
        assert (await act(browser, person, "role", role="org_admin")).status_code == 303
        assert (await act(browser, person, "plan", plan="pro")).status_code == 303
        shown = await browser.get(account_page(person))
        assert "Organisation admin" in shown.text and "Pro (pro)" in shown.text

        unknown_role = await act(browser, person, "role", role="emperor")
        assert unknown_role.status_code == 422 and "Choose one of the roles" in unknown_role.text
        unknown_plan = await act(browser, person, "plan", plan="platinum")
        assert unknown_plan.status_code == 422 and "no plan &#39;platinum&#39;" in unknown_plan.text
        missing = await browser.get(f"{ADMIN}/accounts/{uuid.uuid4()}")
        assert missing.status_code == 404
    after = await stored_account(database, person)
    assert after.role == "org_admin"
    # An admin-given role skips the profile page, which offers only student or developer.
    assert after.profile_completed_at is not None
    async with database.sessionmaker() as session:
        profile = await session.scalar(
            select(UserProfile).where(UserProfile.hub_name == person.username)
        )
    assert profile is not None and profile.plan_code == "pro"
    [role_event] = [
        e
        for e in await events(database, f"account:{person.id}")
        if e.type == "account.role_changed"
    ]
    assert role_event.actor == admin.username
    assert role_event.payload == {"account": person.username, "from": "student", "to": "org_admin"}
    [plan_event] = [
        e for e in await events(database, f"user:{person.username}") if e.type == "plan.assigned"
    ]
    assert plan_event.actor == admin.username
    assert plan_event.payload["to"] == "pro"


async def test_mails_an_admin_starts_go_to_the_person_and_never_show_the_link(
    account_settings: Settings, database: Database, smtp: SmtpServer
) -> None:
    unverified = await person_with_password(database, verified=False)
    assert unverified.email is not None
    async with (
        account_pages(account_settings) as browser,
        account_pages(account_settings) as theirs,
    ):
        admin = await signed_in_admin(browser, database)
        page = await browser.get(account_page(unverified))
        assert "Send the confirmation mail again" in page.text

        sent = await act(browser, unverified, "verification")
        assert sent.status_code == 303
        notice = await browser.get(sent.headers["location"])
        assert f"confirmation link is on its way to {unverified.email}" in notice.text
        [confirm] = smtp.inbox.to(unverified.email)
        [confirm_link] = confirm.links()
        assert token_of(confirm_link) not in notice.text

        reset = await act(browser, unverified, "reset")
        notice = await browser.get(reset.headers["location"])
        assert "Only they can open it" in notice.text
        [_, reset_mail] = smtp.inbox.to(unverified.email)
        assert reset_mail.message["Subject"] == "Choose a new password for DATAZENtr"
        [reset_link] = reset_mail.links()
        assert token_of(reset_link) not in notice.text
        assert smtp.inbox.to(admin.email or "") == []

        opened = await theirs.get(link_path(confirm_link))
        assert opened.status_code == 200 and "Confirm my address" in opened.text
    kinds = [(e.type, e.actor) for e in await events(database, f"account:{unverified.id}")]
    assert ("account.verification_resent_by_admin", admin.username) in kinds
    assert ("account.reset_started_by_admin", admin.username) in kinds


async def test_the_last_admin_cannot_give_up_the_role(
    account_settings: Settings, scratch_database_url: str
) -> None:
    settings, database = on_own_database(account_settings, scratch_database_url)
    try:
        async with account_pages(settings) as browser:
            admin = await signed_in_admin(browser, database)
            refused = await act(browser, admin, "role", role="developer")
            assert refused.status_code == 409
            assert "last admin" in refused.text and "your platform admin role stays" in refused.text
            assert (await stored_account(database, admin)).role == "platform_admin"

            # With a second admin, the first may step down (and loses the pages at once).
            second = await person_with_password(database)
            assert (await act(browser, second, "role", role="platform_admin")).status_code == 303
            assert (await act(browser, admin, "role", role="developer")).status_code == 303
            assert (await stored_account(database, admin)).role == "developer"
            assert (await browser.get(ADMIN)).status_code == 403
    finally:
        await database.dispose()


class Controls(HTMLParser):
    """The visible form controls (id, name), the ids labels point at, scripts, stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[tuple[str | None, str | None]] = []
        self.labelled: set[str] = set()
        self.scripts = 0
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append((values.get("id"), values.get("name")))
        elif tag == "label" and values.get("for"):
            self.labelled.add(str(values["for"]))
        elif tag == "script":
            self.scripts += 1
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(str(values.get("href")))


async def test_every_admin_page_is_labelled_local_and_script_free(
    account_settings: Settings, database: Database
) -> None:
    person = await person_with_password(database)
    async with account_pages(account_settings) as browser:
        await signed_in_admin(browser, database)
        report = await send_import(browser, "name,email\nAda,not-an-address\n")
        answers = [
            await browser.get(ADMIN),
            await browser.get(account_page(person)),
            await browser.get(IMPORT),
            report,
        ]
        for answer in answers:
            assert answer.status_code in (200, 422)
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
            parsed = Controls()
            parsed.feed(answer.text)
            assert parsed.controls, str(answer.url)
            assert [n for i, n in parsed.controls if i not in parsed.labelled] == []
            assert parsed.scripts == 0
            assert parsed.stylesheets == [
                f"{PAGES}/static/accounts.css",
                f"{PAGES}/static/admin.css",
            ]
        css = await browser.get(f"{PAGES}/static/admin.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
