"""An organisation's whole life through its pages: created, people invited by mail (one
signs up through the link), roles changed, ownership handed over, settings, removal,
leaving; each change recorded in the event log."""

from __future__ import annotations

import re

from sqlalchemy import select

from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.models import Account, Event
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    create_person,
    fresh_email,
    link_path,
    submit,
    token_of,
)
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    create_on_page,
    join_on_link,
    mailed_invitation,
    membership,
    post_on_page,
    sign_in_to,
)
from tests.support.smtp import SmtpServer


async def test_an_organisation_is_created_people_join_by_mail_and_it_is_run_by_its_admins(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    founder = await create_person(database, display_name="Grace Hopper")
    colleague = await create_person(database, display_name="Alan Turing")
    admin_browser = await open_browser()
    await sign_in_to(admin_browser, founder, "/hub/")

    # The account's own page leads to the organisation page, which offers to create one.
    own = await admin_browser.get(f"{PAGES}/settings")
    assert f'href="{ORGANISATION}"' in own.text
    empty = await admin_browser.get(ORGANISATION)
    assert empty.status_code == 200 and "Create an organisation" in empty.text
    created, slug = await create_on_page(
        admin_browser, name="Acme Research", kind="university", email_domains="acme.test"
    )
    assert (
        created.status_code == 303 and created.headers["location"] == f"{ORGANISATION}?done=created"
    )
    shown = await admin_browser.get(created.headers["location"])
    assert "<h1>Acme Research</h1>" in shown.text and "You are its admin" in shown.text
    assert "University" in shown.text and "1 used (no limit)" in shown.text
    assert await membership(database, founder) == (slug, "admin")

    # An invitation to someone without an account: mailed, opened signed out, sign-up.
    newcomer_email = fresh_email("newcomer")
    invited = await post_on_page(
        admin_browser, f"{ORGANISATION}/invitations", {"email": newcomer_email, "role": "member"}
    )
    assert invited.status_code == 303 and invited.headers["location"].endswith("done=invited")
    [mail] = smtp.inbox.to(newcomer_email)
    assert mail.message["Subject"] == "Join Acme Research on DATAZENtr"
    assert "Grace Hopper invites you to join Acme Research" in mail.text
    link = mailed_invitation(smtp, newcomer_email)
    pending = await admin_browser.get(ORGANISATION)
    assert newcomer_email in pending.text and "Pending invitations" in pending.text

    newcomer = await open_browser()
    to_sign_in = await newcomer.get(link)
    assert to_sign_in.status_code == 303
    sign_in_page = await newcomer.get(to_sign_in.headers["location"])
    create = re.search(r'href="([^"]*sign-up\?[^"]*)"', sign_in_page.text)
    assert create, "the sign-in page links to sign-up, carrying the invitation"
    sign_up_path = create.group(1).replace("&amp;", "&")
    signed_up = await submit(
        newcomer,
        f"{PAGES}/sign-up",
        {
            "name": "Katherine Johnson",
            "email": newcomer_email,
            "password": PASSWORD,
            "terms": "yes",
            "next": link,
        },
        page=sign_up_path,
    )
    assert signed_up.status_code == 200, signed_up.text
    [confirm] = [m for m in smtp.inbox.to(newcomer_email) if "verify" in m.text][-1:]
    confirm_link = next(url for url in confirm.links() if "/verify?" in url)
    verified = await submit(
        newcomer, f"{PAGES}/verify", {"token": token_of(confirm_link)}, page=link_path(confirm_link)
    )
    assert verified.status_code == 303 and verified.headers["location"].startswith(
        f"{PAGES}/profile?next="
    )
    profiled = await submit(
        newcomer,
        f"{PAGES}/profile",
        {"role": "developer", "institution": "NASA", "next": link},
        page=verified.headers["location"],
    )
    welcome = await newcomer.get(profiled.headers["location"])
    assert f'href="{link}"' in welcome.text, "the welcome page leads on to the invitation"
    offer = await newcomer.get(link)
    assert offer.status_code == 200 and "Join Acme Research" in offer.text
    joined = await join_on_link(newcomer, link)
    assert joined.status_code == 303 and joined.headers["location"] == f"{ORGANISATION}?done=joined"
    member_view = await newcomer.get(joined.headers["location"])
    assert "Grace Hopper" in member_view.text and "Leave Acme Research" in member_view.text
    assert "Send invitation" not in member_view.text, "members do not manage the organisation"

    # A second invitation, for an existing account, as admin.
    assert colleague.email is not None
    await post_on_page(
        admin_browser, f"{ORGANISATION}/invitations", {"email": colleague.email, "role": "admin"}
    )
    colleague_browser = await open_browser()
    colleague_link = mailed_invitation(smtp, colleague.email)
    assert await sign_in_to(colleague_browser, colleague, colleague_link) == colleague_link
    assert (await join_on_link(colleague_browser, colleague_link)).status_code == 303
    assert await membership(database, colleague) == (slug, "admin")

    page = await admin_browser.get(ORGANISATION)
    assert "3 used (no limit)" in page.text and "No invitations are waiting" in page.text
    newcomer_name = re.search(r"Katherine Johnson<br><span class=\"hint\">([^<]+)<", page.text)
    assert newcomer_name
    name = newcomer_name.group(1)

    # Roles, ownership, seats, removal.
    promoted = await post_on_page(
        admin_browser, f"{ORGANISATION}/members/{name}/role", {"role": "admin"}
    )
    assert promoted.status_code == 303
    demoted = await post_on_page(
        admin_browser, f"{ORGANISATION}/members/{name}/role", {"role": "member"}
    )
    assert demoted.status_code == 303
    saved = await post_on_page(
        admin_browser,
        f"{ORGANISATION}/settings",
        {
            "name": "Acme Research Lab",
            "email_domains": "acme.test, lab.acme.test",
            "auto_join": "yes",
            "seats": "5",
        },
    )
    assert saved.status_code == 303
    page = await admin_browser.get(ORGANISATION)
    assert "Acme Research Lab" in page.text and "3 used of 5 (2 available)" in page.text
    removed = await post_on_page(admin_browser, f"{ORGANISATION}/members/{name}/remove")
    assert removed.status_code == 303
    assert await membership(database, await _account_named(database, name)) == (None, None)

    colleague_name = colleague.username
    handed = await post_on_page(
        admin_browser, f"{ORGANISATION}/transfer", {"member": colleague_name}
    )
    assert handed.status_code == 303
    assert await membership(database, founder) == (slug, "member")
    assert await membership(database, colleague) == (slug, "admin")
    member_page = await admin_browser.get(ORGANISATION)
    assert "Send invitation" not in member_page.text

    left = await post_on_page(admin_browser, f"{ORGANISATION}/leave")
    assert left.status_code == 303 and left.headers["location"].endswith("done=left")
    after = await admin_browser.get(left.headers["location"])
    assert "You left the organisation" in after.text and "Create an organisation" in after.text
    assert await membership(database, founder) == (None, None)

    async with database.scoped(PLATFORM) as session:
        types = list(
            await session.scalars(
                select(Event.type).where(Event.payload["tenant"].astext == slug).order_by(Event.id)
            )
        )
    assert types == [
        "tenant.member_joined",
        "tenant.created",
        "tenant.invited",
        "tenant.member_joined",
        "tenant.invited",
        "tenant.member_joined",
        "tenant.role_changed",
        "tenant.role_changed",
        "tenant.settings_changed",
        "tenant.member_removed",
        "tenant.role_changed",
        "tenant.role_changed",
        "tenant.member_left",
    ]


async def _account_named(database: Database, name: str) -> Account:
    async with database.sessionmaker() as session:
        account = await session.scalar(select(Account).where(Account.username == name))
    assert account is not None
    return account
