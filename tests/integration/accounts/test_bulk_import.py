"""Bulk import from CSV: the dry run reports every bad row and creates nothing; an import
creates all accounts or none and mails invitations whose links work once."""

from __future__ import annotations

import html
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from api.accounts import bulk_import
from api.accounts.mail import Mailer
from api.core.config import Settings
from api.core.db import Database
from api.models import Event, Tenant, UserProfile
from api.models.account import Account
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    account_pages,
    create_account,
    link_path,
    sign_in,
    submit,
    token_of,
)
from tests.support.admin_pages import (
    IMPORT,
    import_checked,
    person_with_password,
    send_import,
    signed_in_admin,
)
from tests.support.network import free_port
from tests.support.smtp import SmtpServer


def address(tag: str, name: str) -> str:
    return f"{name}-{tag}@example.edu"


async def accounts_with(database: Database, emails: list[str]) -> list[Account]:
    async with database.sessionmaker() as session:
        found = await session.scalars(
            select(Account).where(func.lower(Account.email).in_([e.lower() for e in emails]))
        )
        return list(found)


async def new_tenant(database: Database, tag: str) -> Tenant:
    async with database.sessionmaker() as session:
        tenant = Tenant(id=uuid.uuid4(), slug=f"engines-{tag}", name=f"Analytical Engines {tag}")
        session.add(tenant)
        await session.commit()
    return tenant


def problems(report: httpx.Response) -> list[tuple[str, str, str]]:
    """The report's problem table as (line, column, reason) rows."""
    table = report.text.partition('<table class="problems"')[2].partition("</table>")[0]
    rows = []
    for row in table.split("<tr>")[2:]:
        cells = [html.unescape(c.partition("</td>")[0]) for c in row.split("<td>")[1:]]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


async def test_a_dry_run_lists_every_bad_row_and_creates_nothing(
    account_settings: Settings, database: Database, smtp: SmtpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    taken = await create_account(database, email=address(tag, "taken"))
    tenant = await new_tenant(database, tag)
    good = [address(tag, "ada"), address(tag, "charles")]
    csv = "\n".join(
        [
            "Name,E-mail,Role,Plan,Organisation",
            f"Ada Lovelace,{good[0]},student,student,{tenant.name}",  # line 2
            f"Charles Babbage,{good[1]},org_admin,,{tenant.slug}",  # line 3
            "No Address,not-an-address,student,,",  # line 4
            f"Twice,{good[0].upper()},,,",  # line 5
            f"Taken,{taken.email},,,",  # line 6
            f"Emperor,{address(tag, 'emperor')},emperor,,",  # line 7
            f"Platinum,{address(tag, 'platinum')},,platinum,",  # line 8
            f"Nowhere,{address(tag, 'nowhere')},,,Atlantis",  # line 9
            f",{address(tag, 'nameless')},,,",  # line 10
            "",
            f'"Quoted, Name",{address(tag, "quoted")},developer,pro,,extra',  # line 12
        ]
    )
    async with account_pages(account_settings) as browser:
        await signed_in_admin(browser, database)
        report = await send_import(browser, csv)
        assert report.status_code == 422
        assert "Nothing has been created" in report.text
        listed = problems(report)
        # Other tests may add plans: the plan's reason is compared up to the list of plans.
        plan_reason = "Unknown plan 'platinum'; the plans are "
        assert [(*p[:2], p[2][: len(plan_reason)]) if p[1] == "plan" else p for p in listed] == [
            ("4", "email", "'not-an-address' is not an e-mail address."),
            ("5", "email", "The same address as line 2: one account per address."),
            ("6", "email", f"This address has an account already ({taken.username})."),
            (
                "7",
                "role",
                "Unknown role 'emperor'; use student, developer, org_admin, platform_admin.",
            ),
            ("8", "plan", plan_reason),
            (
                "9",
                "organisation",
                "There is no organisation 'Atlantis' (by name or slug); create it first or "
                "leave the column empty.",
            ),
            ("10", "name", "The name is missing."),
            (
                "12",
                "—",
                "This line has more fields than the header's 5; is a comma missing its quotes?",
            ),
        ]
        # The good rows are shown, but no Import button while any row is bad.
        assert "Ada Lovelace" in report.text and 'name="action" value="import"' not in report.text
        # A file upload reads the same.
        uploaded = await send_import(browser, csv, as_file=True)
        assert problems(uploaded) == listed
        assert "enterprise, free, pro, student, team" in listed[4][2]
        # Sending the import anyway (a forged form) checks again and creates nothing.
        forced = await send_import(browser, csv, action="import")
        assert forced.status_code == 422 and problems(forced) == listed
    emails = [*good, address(tag, "emperor"), address(tag, "quoted"), address(tag, "nameless")]
    assert await accounts_with(database, emails) == []
    assert [m for m in smtp.inbox.mails if tag in " ".join(m.rcpt_tos)] == []


async def test_a_clean_file_imports_and_each_invitation_works_once(
    account_settings: Settings, database: Database, smtp: SmtpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    tenant = await new_tenant(database, tag)
    ada, charles, grace = address(tag, "ada"), address(tag, "charles"), address(tag, "grace")
    csv = (
        "name,email,role,plan,organisation\n"
        f"Ada Lovelace,{ada},,student,{tenant.slug}\n"
        f"Charles Babbage,{charles},org_admin,,{tenant.name.upper()}\n"
        f"Grace Hopper,{grace},developer,Pro,\n"
    )
    async with (
        account_pages(account_settings) as browser,
        account_pages(account_settings) as adas,
        account_pages(account_settings) as charles_browser,
    ):
        admin = await signed_in_admin(browser, database)
        report = await send_import(browser, csv, as_file=True)
        assert report.status_code == 200
        assert "Every row can be imported: 3 accounts would be created." in report.text
        assert await accounts_with(database, [ada, charles, grace]) == []

        done = await import_checked(browser, report)
        assert done.status_code == 200, done.text
        assert "3 accounts were created;\n  3 invitations were sent." in done.text
        created = {a.email: a for a in await accounts_with(database, [ada, charles, grace])}
        assert set(created) == {ada, charles, grace}
        assert all(
            a.password_hash is None and a.email_verified_at is None for a in created.values()
        )
        assert [created[e].role for e in (ada, charles, grace)] == [
            "student",
            "org_admin",
            "developer",
        ]
        async with database.sessionmaker() as session:
            profiles = {
                p.hub_name: p
                for p in await session.scalars(
                    select(UserProfile).where(
                        UserProfile.hub_name.in_([a.username for a in created.values()])
                    )
                )
            }
        assert profiles[created[ada].username].plan_code == "student"
        assert profiles[created[ada].username].tenant_id == tenant.id
        assert profiles[created[charles].username].plan_code == "free"
        assert profiles[created[charles].username].tenant_id == tenant.id
        assert profiles[created[grace].username].plan_code == "pro"
        assert profiles[created[grace].username].tenant_id is None

        [mail] = smtp.inbox.to(ada)
        assert mail.message["Subject"] == "You are invited to DATAZENtr"
        assert "7 days" in mail.text and created[ada].username in mail.text
        assert admin.display_name is not None and admin.display_name in mail.text
        [link] = mail.links()
        assert "Choose my password" in mail.html
        opened = await adas.get(link_path(link))
        assert opened.status_code == 200 and ada in opened.text
        weak = await submit(
            adas,
            f"{PAGES}/invitation",
            {"token": token_of(link), "password": "password1234", "terms": "yes"},
            page=link_path(link),
        )
        assert weak.status_code == 422 and "common" in weak.text
        no_terms = await submit(
            adas,
            f"{PAGES}/invitation",
            {"token": token_of(link), "password": PASSWORD},
            page=link_path(link),
        )
        assert no_terms.status_code == 422 and "terms of use" in no_terms.text
        accepted = await submit(
            adas,
            f"{PAGES}/invitation",
            {"token": token_of(link), "password": PASSWORD, "terms": "yes"},
            page=link_path(link),
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"{PAGES}/profile"
        assert (await adas.get(f"{PAGES}/profile")).status_code == 200

        again = await adas.get(link_path(link))
        assert again.status_code == 400 and "already been used" in again.text
        assert "Ask for a new link" in again.text
        replay = await submit(
            charles_browser,
            f"{PAGES}/invitation",
            {"token": token_of(link), "password": "another-" + PASSWORD, "terms": "yes"},
            page=f"{PAGES}/sign-in",
        )
        assert replay.status_code == 400 and "already been used" in replay.text

        # An organisation admin (a role the profile page does not offer) is welcomed at once.
        [charles_link] = smtp.inbox.to(charles)[0].links()
        taken_up = await submit(
            charles_browser,
            f"{PAGES}/invitation",
            {"token": token_of(charles_link), "password": PASSWORD, "terms": "yes"},
            page=link_path(charles_link),
        )
        assert taken_up.headers["location"] == f"{PAGES}/welcome"

        # Ada now signs in with the password she chose.
        async with account_pages(account_settings) as later:
            signed = await submit(
                later,
                f"{PAGES}/sign-in",
                {"email": ada, "password": PASSWORD, "action": "password"},
            )
            assert signed.status_code == 303
        # Importing the same file again: every address has an account now.
        second = await send_import(browser, csv)
        assert second.status_code == 422
        assert [p[1] for p in problems(second)] == ["email", "email", "email"]
    stored_ada = (await accounts_with(database, [ada]))[0]
    assert stored_ada.email_verified_at is not None and stored_ada.terms_accepted_at is not None
    async with database.sessionmaker() as session:
        imported = await session.scalar(
            select(Event)
            .where(Event.stream == "accounts", Event.type == "accounts.imported")
            .where(Event.actor == admin.username)
        )
        kinds = list(
            await session.scalars(
                select(Event.type).where(Event.stream == f"account:{stored_ada.id}")
            )
        )
    assert imported is not None and imported.payload == {"created": 3}
    assert kinds[:2] == ["account.imported", "account.invited"]
    assert "account.invitation_accepted" in kinds


async def test_an_address_taken_during_the_import_leaves_nothing_half_imported(
    account_settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    first, second, third = (address(tag, n) for n in ("first", "second", "third"))
    csv = f"name,email\nFirst,{first}\nSecond,{second}\nThird,{third}\n".encode()
    admin = await person_with_password(database, role="platform_admin")
    checked = bulk_import.check_import

    async def check_then_someone_signs_up(session, data):  # type: ignore[no-untyped-def]
        result = await checked(session, data)
        await create_account(database, email=third)  # between the check and the inserts
        return result

    monkeypatch.setattr(bulk_import, "check_import", check_then_someone_signs_up)
    async with database.sessionmaker() as session:
        result = await bulk_import.run_import(
            session, account_settings, Mailer(account_settings), csv, actor=admin
        )
    assert not result.imported
    assert [(p.line, p.column) for p in result.check.problems] == [(4, "email")]
    assert "nothing was imported" in result.check.problems[0].reason
    assert [a.email for a in await accounts_with(database, [first, second, third])] == [third]


async def test_failed_invitation_mails_are_reported_and_can_be_sent_again(
    account_settings: Settings, database: Database, smtp: SmtpServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    ada, grace = address(tag, "ada"), address(tag, "grace")
    csv = f"name,email\nAda,{ada}\nGrace,{grace}\n"
    # A mail server that is not there: the accounts are created, the mails fail.
    down = account_settings.model_copy(update={"smtp_port": free_port()})
    admin = await person_with_password(database, role="platform_admin")
    async with account_pages(down) as browser:
        await sign_in(browser, admin)
        done = await import_checked(browser, await send_import(browser, csv))
        assert done.status_code == 200
        assert "2 invitations could not be sent" in done.text
        assert done.text.count("not sent") == 2 and "Send again" in done.text
    created = {a.email: a for a in await accounts_with(database, [ada, grace])}
    assert set(created) == {ada, grace}

    async with (
        account_pages(account_settings) as browser,
        account_pages(account_settings) as graces,
    ):
        await sign_in(browser, admin)
        page = f"{PAGES}/admin/accounts/{created[grace].id}"
        shown = await browser.get(page)
        assert "invited, has not signed in yet" in shown.text
        resent = await submit(browser, f"{page}/invitation", {}, page=page)
        assert resent.status_code == 303
        assert "invitation is on its way" in (await browser.get(resent.headers["location"])).text
        [mail] = smtp.inbox.to(grace)
        [link] = mail.links()
        accepted = await submit(
            graces,
            f"{PAGES}/invitation",
            {"token": token_of(link), "password": PASSWORD, "terms": "yes"},
            page=link_path(link),
        )
        assert accepted.status_code == 303
        # Once taken up, there is no invitation to send any more.
        refused = await submit(browser, f"{page}/invitation", {}, page=page)
        assert refused.status_code == 422 and "in use already" in refused.text
    assert smtp.inbox.to(ada) == []


async def test_files_past_the_limits_or_unreadable_get_a_clear_message(
    account_settings: Settings, database: Database
) -> None:
    rows = "".join(
        f"P{n},p{n}-{uuid.uuid4().hex[:6]}@example.edu\n" for n in range(bulk_import.MAX_ROWS + 1)
    )
    async with account_pages(account_settings) as browser:
        await signed_in_admin(browser, database)
        too_many = await send_import(browser, "name,email\n" + rows)
        assert too_many.status_code == 422
        assert (
            f"The file has {bulk_import.MAX_ROWS + 1} rows; at most {bulk_import.MAX_ROWS} can be "
            "imported at once." in html.unescape(too_many.text)
        )
        huge = await send_import(
            browser, "name,email\n" + "x" * bulk_import.MAX_FILE_BYTES, as_file=True
        )
        assert huge.status_code == 422 and "KB can be imported at once" in huge.text
        pasted = await send_import(browser, "name,email\n" + "x" * bulk_import.MAX_FILE_BYTES * 2)
        assert pasted.status_code == 413 and "KB can be imported at once" in pasted.text
        declared = await browser.post(
            IMPORT,
            content=b"x" * (bulk_import.MAX_FILE_BYTES * 4),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert declared.status_code == 413 and "The form is too large" in declared.text

        shown = await browser.get(IMPORT)
        token = shown.text.partition('name="csrf_token" value="')[2].partition('"')[0]
        latin1 = await browser.post(
            IMPORT,
            data={"csrf_token": token, "action": "check"},
            files={
                "csv_file": (
                    "class.csv",
                    "name,email\nJosé,jose@example.edu\n".encode("latin-1"),
                    "text/csv",
                )
            },
        )
        assert latin1.status_code == 422 and "not UTF-8" in latin1.text

        no_header = await send_import(browser, "Ada,ada@example.edu\n")
        assert "name and email are missing" in html.unescape(no_header.text)
        empty = await browser.post(
            IMPORT,
            data={"csrf_token": token, "action": "check", "csv": "  "},
            files={"csv_file": ("", b"", "text/csv")},
        )
        assert empty.status_code == 422 and "Choose a CSV file or paste its rows" in empty.text
        forged = await browser.post(
            IMPORT,
            data={"csrf_token": "forged", "action": "import", "csv": "name,email\nA,a@example.edu"},
            files={"csv_file": ("", b"", "text/csv")},
        )
        assert forged.status_code == 403
        assert await accounts_with(database, ["a@example.edu"]) == []
