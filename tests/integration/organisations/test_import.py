"""An organisation's admins import a class list into their own organisation: the check
lists every row that cannot go in (another organisation, platform admins, plans beyond the
member defaults, accounts elsewhere, seats), the import mails invitations, and an invitee
who takes up the account is a member; nobody else may import."""

from __future__ import annotations

import html
import uuid

import httpx
from sqlalchemy import func, select

from api.core.config import Settings
from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.models import Event
from api.models.account import Account
from tests.support import admin_pages
from tests.support.accounts import PAGES, PASSWORD, csrf_token, link_path, submit, token_of
from tests.support.network import free_port
from tests.support.organisation_insights import (
    change_organisation,
    organisation,
    placed_person,
    plan_of,
)
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    membership,
    organisation_browser,
    post_on_page,
    run_by,
    sign_in_to,
)
from tests.support.smtp import SmtpServer

IMPORT = f"{ORGANISATION}/import"


def address(tag: str, name: str) -> str:
    return f"{name}-{tag}@example.edu"


async def send_import(
    browser: httpx.AsyncClient, csv: str, *, action: str = "check", as_file: bool = False
) -> httpx.Response:
    """The organisation's import form with ``csv``, as a browser sends it."""
    return await admin_pages.send_import(browser, csv, action=action, as_file=as_file, form=IMPORT)


async def import_checked(browser: httpx.AsyncClient, report: httpx.Response) -> httpx.Response:
    return await admin_pages.import_checked(browser, report, form=IMPORT)


def problems(report: httpx.Response) -> list[tuple[str, str, str]]:
    """The report's problem table as (line, column, reason) rows."""
    table = report.text.partition('<table class="problems"')[2].partition("</table>")[0]
    rows = []
    for row in table.split("<tr>")[2:]:
        cells = [html.unescape(c.partition("</td>")[0]) for c in row.split("<td>")[1:]]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


async def accounts_with(database: Database, emails: list[str]) -> dict[str, Account]:
    async with database.sessionmaker() as session:
        found = await session.scalars(
            select(Account).where(func.lower(Account.email).in_([e.lower() for e in emails]))
        )
        return {str(account.email): account for account in found}


async def test_an_admin_imports_a_class_list_and_an_invitee_takes_up_a_membership(
    open_browser: OpenBrowser, database: Database, smtp: SmtpServer
) -> None:
    browser, adas = await open_browser(), await open_browser()
    admin, slug = await run_by(browser, database, name="Analytical Engines")
    await change_organisation(database, slug, plan_code="pro", member_plan_code="student", seats=10)
    tag = uuid.uuid4().hex[:8]
    ada, charles, grace = address(tag, "ada"), address(tag, "charles"), address(tag, "grace")
    csv = (
        "name,email,role,plan,organisation\n"
        f"Ada Lovelace,{ada},,,\n"
        f"Charles Babbage,{charles},org_admin,,{slug}\n"
        f"Grace Hopper,{grace},developer,Free,analytical engines\n"
    )

    shown = await browser.get(ORGANISATION)
    assert f'href="{IMPORT}">Import members</a>' in shown.text
    form = await browser.get(IMPORT)
    assert form.status_code == 200
    assert "Analytical Engines has 9 free seats of 10" in form.text
    assert "empty means student, the organisation's member plan" in html.unescape(form.text)

    report = await send_import(browser, csv, as_file=True)
    assert report.status_code == 200, report.text
    assert "Every row can be imported: 3 accounts would be created." in report.text
    assert await accounts_with(database, [ada, charles, grace]) == {}

    done = await import_checked(browser, report)
    assert done.status_code == 200, done.text
    assert "3 accounts were created;\n  3 invitations were sent." in done.text
    created = await accounts_with(database, [ada, charles, grace])
    assert [created[e].role for e in (ada, charles, grace)] == ["student", "org_admin", "developer"]
    assert [await membership(database, created[e]) for e in (ada, charles, grace)] == [
        (slug, "member"),
        (slug, "admin"),
        (slug, "member"),
    ]
    assert [await plan_of(database, created[e]) for e in (ada, grace)] == ["student", "free"]

    [mail] = smtp.inbox.to(ada)
    assert mail.message["Subject"] == "You are invited to DATAZENtr"
    assert f"{admin.display_name} of Analytical Engines" in " ".join(mail.text.split())
    [link] = mail.links()
    accepted = await submit(
        adas,
        f"{PAGES}/invitation",
        {"token": token_of(link), "password": PASSWORD, "terms": "yes"},
        page=link_path(link),
    )
    assert accepted.status_code == 303, accepted.text
    # Ada is signed in, and her organisation page is the organisation's.
    hers = await adas.get(ORGANISATION)
    assert hers.status_code == 200
    assert "<h1>Analytical Engines</h1>" in hers.text and "(you)" in hers.text
    assert "Import members" not in hers.text  # a member, not an admin
    assert len(smtp.inbox.to(charles)) == 1 and len(smtp.inbox.to(grace)) == 1

    async with database.scoped(PLATFORM) as session:
        imported = await session.scalar(
            select(Event).where(
                Event.stream == f"tenant:{slug}", Event.type == "tenant.members_imported"
            )
        )
    assert imported is not None and imported.actor == admin.username
    assert imported.payload == {"tenant": slug, "created": 3}


async def test_only_the_organisations_admins_may_import(
    open_browser: OpenBrowser, database: Database
) -> None:
    browser = await open_browser()
    _, slug = await run_by(browser, database, name="Analytical Engines")
    member = await placed_person(database, slug, display_name="Alan Turing")
    loner = await placed_person(database, None, display_name="Mary Somerville")
    email = address(uuid.uuid4().hex[:8], "sneaky")

    members_browser = await open_browser()
    await sign_in_to(members_browser, member, ORGANISATION)
    shown = await members_browser.get(ORGANISATION)
    assert shown.status_code == 200 and "Import members" not in shown.text
    refused = await members_browser.get(IMPORT)
    assert refused.status_code == 403
    assert "Only the admins of Analytical Engines can import members" in html.unescape(refused.text)
    token = csrf_token(shown.text)
    posted = await members_browser.post(
        IMPORT,
        data={"csrf_token": token, "action": "import", "csv": f"name,email\nSneaky,{email}\n"},
        files={"csv_file": ("", b"", "application/octet-stream")},
    )
    assert posted.status_code == 403

    loners_browser = await open_browser()
    await sign_in_to(loners_browser, loner, ORGANISATION)
    nowhere = await loners_browser.get(IMPORT)
    assert nowhere.status_code == 404 and "You are in no organisation" in nowhere.text

    signed_out = await (await open_browser()).get(IMPORT)
    assert signed_out.status_code in (302, 303, 307)
    assert await accounts_with(database, [email]) == {}


async def test_rows_for_another_organisation_platform_admins_or_accounts_elsewhere_are_refused(
    open_browser: OpenBrowser, database: Database, smtp: SmtpServer
) -> None:
    browser = await open_browser()
    _, slug = await run_by(browser, database, name="Analytical Engines")
    _, other = await run_by(await open_browser(), database, name="Difference Engines")
    elsewhere = await placed_person(database, other, display_name="Elsewhere")
    unattached = await placed_person(database, None, display_name="Unattached")
    colleague = await placed_person(database, slug, display_name="Colleague")
    tag = uuid.uuid4().hex[:8]
    good = address(tag, "ada")
    csv = "\n".join(
        [
            "name,email,role,plan,organisation",
            f"Ada Lovelace,{good},student,,",  # line 2
            f"Other,{address(tag, 'other')},,,{other}",  # line 3
            f"Named,{address(tag, 'named')},,,Difference Engines",  # line 4
            f"Root,{address(tag, 'root')},platform_admin,,",  # line 5
            f"Rich,{address(tag, 'rich')},,enterprise,",  # line 6
            f"Team,{address(tag, 'team')},,team,",  # line 7: no paid plan without one
            f"Elsewhere,{elsewhere.email},,,",  # line 8
            f"Unattached,{unattached.email},,,",  # line 9
            f"Colleague,{colleague.email},,,",  # line 10
        ]
    )
    report = await send_import(browser, csv)
    assert report.status_code == 422
    assert "Nothing has been created" in report.text
    elsewhere_reason = (
        "This address has an account in another organisation; a person is in one "
        "organisation at a time."
    )
    # Without a plan of its own, the organisation gives only the default plan.
    plan_reason = (
        "Analytical Engines has no plan of its own yet, so its members get only the "
        "platform's default plan (free); leave the plan empty or write free."
    )
    listed = problems(report)
    assert listed == [
        (
            "3",
            "organisation",
            "Every row goes into Analytical Engines, the organisation you run; this row "
            f"names {other!r}. Leave the column empty or write {slug}.",
        ),
        (
            "4",
            "organisation",
            "Every row goes into Analytical Engines, the organisation you run; this row "
            f"names 'Difference Engines'. Leave the column empty or write {slug}.",
        ),
        (
            "5",
            "role",
            "An organisation's import cannot make platform admins; use student, developer, "
            "org_admin.",
        ),
        ("6", "plan", plan_reason),
        ("7", "plan", plan_reason),
        ("8", "email", elsewhere_reason),
        (
            "9",
            "email",
            "This address has an account already: invite the person by e-mail on the "
            "organisation's page, and they join with that account.",
        ),
        (
            "10",
            "email",
            f"This address is {colleague.username}'s, a member of Analytical Engines.",
        ),
    ]
    # The other organisation is not named back, nor who is in it.
    assert "Difference Engines" not in listed[5][2]
    assert "Ada Lovelace" in report.text and 'name="action" value="import"' not in report.text
    # A forged Import checks again and creates nothing.
    forced = await send_import(browser, csv, action="import")
    assert forced.status_code == 422 and problems(forced) == listed
    assert await accounts_with(database, [good, address(tag, "root")]) == {}
    assert await membership(database, elsewhere) == (other, "member")
    assert [m for m in smtp.inbox.mails if tag in " ".join(m.rcpt_tos)] == []


async def test_a_file_past_the_seats_imports_nothing_until_its_admins_add_seats(
    open_browser: OpenBrowser, database: Database, smtp: SmtpServer
) -> None:
    browser = await open_browser()
    _, slug = await run_by(browser, database, name="Analytical Engines")
    await change_organisation(database, slug, seats=2)  # the admin has one
    tag = uuid.uuid4().hex[:8]
    ada, charles = address(tag, "ada"), address(tag, "charles")
    csv = f"name,email\nAda Lovelace,{ada}\nCharles Babbage,{charles}\n"

    report = await send_import(browser, csv)
    assert report.status_code == 422
    alert = " ".join(report.text.partition('class="alert"')[2].split())
    assert alert.startswith('role="alert">1 problem') and " on 1 line" not in alert
    [(line, column, reason)] = problems(report)
    assert (line, column) == ("—", "—")
    assert reason == (
        "Analytical Engines has 1 free seat (1 of 2 taken), and this file would add 2 members, "
        "so nothing can be imported. Its admins (you, too) can add seats in the organisation's "
        "settings; or import fewer rows."
    )
    forced = await send_import(browser, csv, action="import")
    assert forced.status_code == 422 and problems(forced) == problems(report)
    assert await accounts_with(database, [ada, charles]) == {}

    tenant = await organisation(database, slug)
    saved = await post_on_page(
        browser,
        f"{ORGANISATION}/settings",
        {"name": tenant.name, "email_domains": "", "seats": "3"},
    )
    assert saved.status_code == 303, saved.text
    again = await send_import(browser, csv)
    assert again.status_code == 200, again.text
    done = await import_checked(browser, again)
    assert done.status_code == 200 and "2 accounts were created" in done.text
    assert set(await accounts_with(database, [ada, charles])) == {ada, charles}
    assert len(smtp.inbox.to(ada)) == 1 and len(smtp.inbox.to(charles)) == 1
    # Now every seat is taken: one more row is refused.
    more = await send_import(browser, f"name,email\nGrace,{address(tag, 'grace')}\n")
    assert more.status_code == 422 and "has 0 free seats (3 of 3 taken)" in more.text


async def test_a_failed_invitation_mail_is_sent_again_by_the_organisations_admin(
    open_browser: OpenBrowser, database: Database, org_settings: Settings, smtp: SmtpServer
) -> None:
    browser = await open_browser()
    admin, slug = await run_by(browser, database, name="Analytical Engines")
    ada = address(uuid.uuid4().hex[:8], "ada")
    down = org_settings.model_copy(update={"smtp_port": free_port()})
    async with organisation_browser(down) as without_mail:
        await sign_in_to(without_mail, admin, IMPORT)
        done = await import_checked(
            without_mail, await send_import(without_mail, f"name,email\nAda,{ada}\n")
        )
        assert done.status_code == 200, done.text
        assert "1 invitation could not be sent" in done.text and "Send again" in done.text
    assert smtp.inbox.to(ada) == []
    created = (await accounts_with(database, [ada]))[ada]
    assert await membership(database, created) == (slug, "member")

    resend = f"{IMPORT}/invitations/{created.id}"
    resent = await submit(browser, resend, {}, page=IMPORT)
    assert resent.status_code == 303
    assert "The invitation was mailed again" in (await browser.get(resent.headers["location"])).text
    [mail] = smtp.inbox.to(ada)
    assert "/accounts/invitation?token=" in mail.links()[0]
    # Nobody outside the organisation gets one through it.
    outsider = await placed_person(database, None, display_name="Outsider")
    refused = await submit(browser, f"{IMPORT}/invitations/{outsider.id}", {}, page=IMPORT)
    assert refused.status_code == 404
