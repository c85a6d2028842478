"""What the organisation pages and flows refuse, each with a message a person can act on
(never a 500): invitations that cannot be used, the last admin, unconfirmed addresses,
full seats, bad input, other organisations' members."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from api.core.db import Database
from api.core.tenancy import PLATFORM
from api.errors import Conflict, Forbidden
from api.models import Account, OrganisationInvitation
from api.organisations import invitations
from api.organisations import membership as rules
from tests.support.accounts import create_person, fresh_email
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    create_on_page,
    invite_on_page,
    join_on_link,
    mailed_invitation,
    membership,
    person_session,
    post_on_page,
    run_by,
    sign_in_to,
)
from tests.support.smtp import SmtpServer


async def test_inviting_an_existing_member_is_refused(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, _ = await run_by(admin_browser, database)
    assert admin.email is not None
    answer = await invite_on_page(admin_browser, admin.email.upper())
    assert answer.status_code == 409
    assert f"{admin.email.upper().rpartition('@')[0]}@" in answer.text
    assert "is a member of Acme Research already" in answer.text
    assert smtp.inbox.to(admin.email) == []


async def test_invitations_to_one_address_are_limited(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    await run_by(admin_browser, database)
    address = f"flooded-{uuid.uuid4().hex[:8]}@example.org"
    for _ in range(3):
        assert (await invite_on_page(admin_browser, address)).status_code == 303
    refused = await invite_on_page(admin_browser, address)
    assert refused.status_code == 429
    assert "has sent many invitations just now" in refused.text
    assert "Try again after" in refused.text
    assert len(smtp.inbox.to(address)) == 3


async def test_an_expired_invitation_says_so_and_whom_to_ask(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    await run_by(admin_browser, database)
    invitee = await create_person(database)
    assert invitee.email is not None
    await invite_on_page(admin_browser, invitee.email)
    link = mailed_invitation(smtp, invitee.email)
    async with database.scoped(PLATFORM) as session:
        await session.execute(
            update(OrganisationInvitation)
            .where(OrganisationInvitation.email == invitee.email)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await session.commit()
    browser = await open_browser()
    await sign_in_to(browser, invitee, link)
    shown = await browser.get(link)
    assert shown.status_code == 400 and "has expired" in shown.text
    assert "Ask its admins to invite you again" in shown.text
    assert "Join Acme Research</button>" not in shown.text
    assert await membership(database, invitee) == (None, None)


async def test_a_revoked_or_used_invitation_cannot_be_used(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    await run_by(admin_browser, database)
    revoked_person, used_person = await create_person(database), await create_person(database)
    assert revoked_person.email and used_person.email

    await invite_on_page(admin_browser, revoked_person.email)
    revoked_link = mailed_invitation(smtp, revoked_person.email)
    page = await admin_browser.get(ORGANISATION)
    [invitation_id] = [
        part.split("/")[0]
        for part in page.text.split(f"{ORGANISATION}/invitations/")[1:]
        if "/revoke" in part.split('"')[0]
    ]
    revoked = await post_on_page(
        admin_browser, f"{ORGANISATION}/invitations/{invitation_id}/revoke"
    )
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("done=revoked")
    browser = await open_browser()
    await sign_in_to(browser, revoked_person, revoked_link)
    shown = await browser.get(revoked_link)
    assert shown.status_code == 409 and "was withdrawn by its admins" in shown.text

    await invite_on_page(admin_browser, used_person.email)
    used_link = mailed_invitation(smtp, used_person.email)
    used_browser = await open_browser()
    await sign_in_to(used_browser, used_person, used_link)
    assert (await join_on_link(used_browser, used_link)).status_code == 303
    again = await used_browser.get(used_link)
    assert again.status_code == 409 and "has been used already" in again.text

    # A link cut off or made up.
    made_up = await used_browser.get(f"{ORGANISATION}/invitations/not-a-real-token")
    assert made_up.status_code == 404 and "not valid" in made_up.text


async def test_the_last_admin_can_be_neither_removed_nor_demoted_nor_leave(
    open_browser: OpenBrowser, database: Database
) -> None:
    admin_browser = await open_browser()
    admin, slug = await run_by(admin_browser, database)
    name = admin.username
    for path, data in (
        (f"{ORGANISATION}/members/{name}/remove", {}),
        (f"{ORGANISATION}/members/{name}/role", {"role": "member"}),
        (f"{ORGANISATION}/leave", {}),
    ):
        answer = await post_on_page(admin_browser, path, data)
        assert answer.status_code == 409, path
        assert "only admin of Acme Research" in answer.text
        assert "Make another member admin first" in answer.text
    assert await membership(database, admin) == (slug, "admin")
    page = await admin_browser.get(ORGANISATION)
    assert "You are its only admin" in page.text


async def test_joining_needs_a_confirmed_address_that_is_the_invitations(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    await run_by(admin_browser, database, email_domains="unconfirmed.test")
    saved = await post_on_page(
        admin_browser,
        f"{ORGANISATION}/settings",
        {"name": "Acme Research", "email_domains": "unconfirmed.test", "auto_join": "yes"},
    )
    assert saved.status_code == 303
    unconfirmed = await create_person(database, verified=False)
    assert unconfirmed.email is not None
    await invite_on_page(admin_browser, unconfirmed.email)
    token = mailed_invitation(smtp, unconfirmed.email).rpartition("/")[2]

    async with person_session(database, unconfirmed) as session:
        with pytest.raises(Forbidden, match="Confirm your address"):
            await invitations.accept(session, unconfirmed, token)
    async with person_session(database, unconfirmed) as session:
        with pytest.raises(Forbidden, match="Confirm your e-mail address first"):
            await rules.join_by_domain(session, unconfirmed, "anything")
    assert await membership(database, unconfirmed) == (None, None)

    # The page sends an unconfirmed account to confirm its address first.
    browser = await open_browser()
    await sign_in_to(browser, unconfirmed, "/hub/")
    shown = await browser.get(f"{ORGANISATION}/invitations/{token}")
    assert shown.status_code == 303 and shown.headers["location"].endswith("/verify/pending")

    # Someone else signed in with the link: told whose it is.
    other = await create_person(database)
    other_browser = await open_browser()
    link = f"{ORGANISATION}/invitations/{token}"
    await sign_in_to(other_browser, other, link)
    wrong = await other_browser.get(link)
    assert wrong.status_code == 403
    assert f"This invitation is for {unconfirmed.email}" in wrong.text
    refused = await other_browser.post(link, data={"csrf_token": "x"})
    assert refused.status_code == 403
    assert await membership(database, other) == (None, None)


async def test_a_full_organisation_refuses_more_members_and_names_its_admins(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    domain = f"full-{fresh_email().partition('-')[2].partition('@')[0]}.test"
    await run_by(admin_browser, database)
    saved = await post_on_page(
        admin_browser,
        f"{ORGANISATION}/settings",
        {"name": "Acme Research", "email_domains": domain, "auto_join": "yes", "seats": "1"},
    )
    assert saved.status_code == 303
    page = await admin_browser.get(ORGANISATION)
    assert "1 used of 1 (0 available)" in page.text

    invitee = await create_person(database)
    assert invitee.email is not None
    await invite_on_page(admin_browser, invitee.email)
    link = mailed_invitation(smtp, invitee.email)
    browser = await open_browser()
    await sign_in_to(browser, invitee, link)
    refused = await join_on_link(browser, link)
    assert refused.status_code == 409
    assert "Acme Research has no free seat: 1 of 1 are taken" in refused.text
    assert "Its admins can add seats: ask Grace Hopper" in refused.text
    assert await membership(database, invitee) == (None, None)

    # Joining by domain is refused the same way.
    colleague = await create_person(database)
    async with database.scoped(PLATFORM) as session:
        await session.execute(
            update(Account).where(Account.id == colleague.id).values(email=f"colleague@{domain}")
        )
        await session.commit()
    colleague_browser = await open_browser()
    colleague.email = f"colleague@{domain}"
    await sign_in_to(colleague_browser, colleague, "/hub/")
    offer = await colleague_browser.get(ORGANISATION)
    assert "Join with your address" in offer.text
    slug_value = offer.text.split('name="slug" value="', 1)[1].split('"', 1)[0]
    full = await post_on_page(colleague_browser, f"{ORGANISATION}/join", {"slug": slug_value})
    assert full.status_code == 409 and "no free seat" in full.text

    # Once an admin adds seats, the same link works, and so does joining by domain.
    await post_on_page(
        admin_browser,
        f"{ORGANISATION}/settings",
        {"name": "Acme Research", "email_domains": domain, "auto_join": "yes", "seats": "3"},
    )
    assert (await join_on_link(browser, link)).status_code == 303
    assert (await membership(database, invitee))[1] == "member"
    joined = await post_on_page(colleague_browser, f"{ORGANISATION}/join", {"slug": slug_value})
    assert joined.status_code == 303 and joined.headers["location"].endswith("done=joined")
    assert await membership(database, colleague) == (slug_value, "member")


async def test_bad_input_shows_the_page_again_with_the_reason(
    open_browser: OpenBrowser, database: Database
) -> None:
    browser = await open_browser()
    person = await create_person(database)
    await sign_in_to(browser, person, "/hub/")
    for fields, message in (
        ({"slug": "Not A Slug!"}, "lower-case letters, digits and hyphens"),
        ({"name": "  "}, "Enter the organisation"),
        ({"kind": "guild"}, "company, a university or a class"),
        ({"email_domains": "acme.test, not a domain!"}, "is not a domain"),
    ):
        answer, _ = await create_on_page(browser, **fields)
        assert answer.status_code == 422, fields
        assert message in answer.text and 'aria-invalid="true"' in answer.text
    _, slug = await create_on_page(browser)
    other = await open_browser()
    await sign_in_to(other, await create_person(database), "/hub/")
    taken, _ = await create_on_page(other, slug=slug)
    assert taken.status_code == 422 and "is taken" in taken.text
    seats = await post_on_page(
        browser, f"{ORGANISATION}/settings", {"name": "Acme", "seats": "lots"}
    )
    assert seats.status_code == 422 and "whole number" in seats.text
    forged = await browser.post(f"{ORGANISATION}/leave", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and "send the form again" in forged.text.lower()
    assert (await membership(database, person))[1] == "admin"


async def test_members_do_not_run_it_and_admins_reach_only_their_own(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    first_browser = await open_browser()
    await run_by(first_browser, database)
    second_browser = await open_browser()
    second_admin, second_slug = await run_by(second_browser, database, name="Globex")
    member = await create_person(database)
    assert member.email is not None
    await invite_on_page(second_browser, member.email)
    member_browser = await open_browser()
    link = mailed_invitation(smtp, member.email)
    await sign_in_to(member_browser, member, link)
    await join_on_link(member_browser, link)

    # The first organisation's admin cannot remove the second's member.
    across = await post_on_page(first_browser, f"{ORGANISATION}/members/{member.username}/remove")
    assert across.status_code == 404 and "is not a member of Acme Research" in across.text
    assert await membership(database, member) == (second_slug, "member")
    # A member cannot invite or remove.
    for path, data in (
        (f"{ORGANISATION}/invitations", {"email": fresh_email()}),
        (f"{ORGANISATION}/members/{second_admin.username}/remove", {}),
    ):
        answer = await post_on_page(member_browser, path, data)
        assert answer.status_code == 403 and "Only the admins of Globex" in answer.text
    # Someone in an organisation cannot create another or accept another's invitation.
    answer, _ = await create_on_page(member_browser)
    assert answer.status_code == 409 and "You belong to Globex already" in answer.text
    async with person_session(database, member) as session:
        with pytest.raises(Conflict, match="You belong to Globex already"):
            await rules.create_organisation(
                session, member, name="X", slug="x-org", kind="company", email_domains=""
            )
