"""Two people taking the last seat at once: the organisation's row is locked for each
change, so exactly one joins and the other is told the seats are full."""

from __future__ import annotations

import asyncio

from api.core.db import Database
from api.errors import Conflict
from api.organisations import invitations
from tests.support.accounts import create_person
from tests.support.organisations import (
    ORGANISATION,
    OpenBrowser,
    invite_on_page,
    mailed_invitation,
    membership,
    person_session,
    post_on_page,
    run_by,
)
from tests.support.smtp import SmtpServer


async def test_two_accepting_the_last_seat_at_once_leaves_one_outside(
    open_browser: OpenBrowser, smtp: SmtpServer, database: Database
) -> None:
    admin_browser = await open_browser()
    _, slug = await run_by(admin_browser, database)
    saved = await post_on_page(
        admin_browser, f"{ORGANISATION}/settings", {"name": "Acme Research", "seats": "2"}
    )
    assert saved.status_code == 303
    people = [await create_person(database), await create_person(database)]
    tokens = []
    for person in people:
        assert person.email is not None
        await invite_on_page(admin_browser, person.email)
        tokens.append(mailed_invitation(smtp, person.email).rpartition("/")[2])

    async def accept(index: int) -> str:
        async with person_session(database, people[index]) as session:
            try:
                await invitations.accept(session, people[index], tokens[index])
            except Conflict as exc:
                return exc.message
            return "joined"

    outcomes = await asyncio.gather(accept(0), accept(1))
    assert sorted(outcomes, key=len)[0] == "joined"
    assert "no free seat: 2 of 2 are taken" in sorted(outcomes, key=len)[1]
    members = [await membership(database, person) for person in people]
    assert sorted(members, key=str) == sorted([(slug, "member"), (None, None)], key=str)
