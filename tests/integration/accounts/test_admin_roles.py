"""Who is a platform admin: the role, or the operator's ``admin_users`` naming a user name
or a verified address (never an address nobody has proved)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from api.accounts.roles import is_platform_admin, raise_listed_admin
from api.accounts.service import account_by_email
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account
from tests.support.accounts import PAGES, PASSWORD, account_pages, sign_in, submit
from tests.support.admin_pages import (
    ADMIN,
    act,
    on_own_database,
    person_with_password,
)


def listing(settings: Settings, *names: str) -> Settings:
    return settings.model_copy(update={"admin_users": frozenset(names)})


async def test_admin_users_makes_a_verified_address_or_a_user_name_an_admin(
    account_settings: Settings, database: Database
) -> None:
    verified = await person_with_password(database)
    unverified = await person_with_password(database, verified=False)
    by_name = await person_with_password(database)
    assert verified.email and unverified.email
    settings = listing(account_settings, verified.email.upper(), unverified.email, by_name.username)
    for person, admin in ((verified, True), (unverified, False), (by_name, True)):
        assert is_platform_admin(person, settings) is admin
        async with account_pages(settings) as browser:
            await sign_in(browser, person)
            answer = await browser.get(ADMIN)
            assert answer.status_code == (200 if admin else 403), person.username
    # Signing in gave the listed ones the role itself: it stays without the setting (an
    # admin takes it away on the accounts page); the unverified address never got it.
    for person, admin in ((verified, True), (unverified, False)):
        async with account_pages(account_settings) as browser:
            await sign_in(browser, person)
            assert (await browser.get(ADMIN)).status_code == (200 if admin else 403)


async def test_a_listed_account_is_raised_to_the_role_with_an_event(
    account_settings: Settings, database: Database
) -> None:
    verified = await person_with_password(database)
    unverified = await person_with_password(database, verified=False)
    assert verified.email and unverified.email
    settings = listing(account_settings, verified.email, unverified.email)
    async with database.sessionmaker() as session:
        for person in (verified, unverified):
            row = await session.get(Account, person.id)
            assert row is not None
            assert raise_listed_admin(session, settings, row) is (person is verified)
        await session.commit()
    async with database.sessionmaker() as session:
        roles = {
            a.id: a.role
            for a in await session.scalars(
                select(Account).where(Account.id.in_([verified.id, unverified.id]))
            )
        }
        [event] = await session.scalars(
            select(Event).where(
                Event.stream == f"account:{verified.id}", Event.type == "account.role_changed"
            )
        )
        unrelated = await session.scalars(
            select(Event).where(Event.stream == f"account:{unverified.id}")
        )
        assert list(unrelated) == []
    assert roles == {verified.id: "platform_admin", unverified.id: "developer"}
    assert event.actor is None
    assert event.payload["to"] == "platform_admin" and event.payload["from"] == "developer"
    # Once raised, it is not raised again.
    async with database.sessionmaker() as session:
        row = await session.get(Account, verified.id)
        assert row is not None and raise_listed_admin(session, settings, row) is False


async def test_a_listed_admin_counts_when_the_last_admin_steps_down(
    account_settings: Settings, scratch_database_url: str
) -> None:
    settings, database = on_own_database(account_settings, scratch_database_url)
    try:
        admin = await person_with_password(database, role="platform_admin")
        listed_unverified = await person_with_password(database, verified=False)
        assert listed_unverified.email
        unproved = listing(settings, listed_unverified.email)
        async with account_pages(unproved) as browser:
            await sign_in(browser, admin)
            refused = await act(browser, admin, "role", role="developer")
            assert refused.status_code == 409

        listed = await person_with_password(database)
        assert listed.email
        with_listed = listing(settings, listed.email)
        async with account_pages(with_listed) as browser:
            await sign_in(browser, admin)
            assert (await act(browser, admin, "role", role="developer")).status_code == 303
        async with database.sessionmaker() as session:
            row = await session.get(Account, admin.id)
            assert row is not None and row.role == "developer"
    finally:
        await database.dispose()


async def test_signing_in_with_a_listed_address_gives_the_role(
    account_settings: Settings, database: Database
) -> None:
    person = await person_with_password(database)
    other = await person_with_password(database)
    assert person.email
    settings = listing(account_settings, person.email)
    for who in (person, other):
        async with account_pages(settings) as browser:
            await sign_in(browser, who)
    async with database.sessionmaker() as session:
        raised = await session.get(Account, person.id)
        unlisted = await session.get(Account, other.id)
        assert raised is not None and raised.role == "platform_admin"
        assert unlisted is not None and unlisted.role != "platform_admin"


async def test_nobody_signs_up_into_a_user_name_listed_as_admin(
    account_settings: Settings, database: Database
) -> None:
    listed = f"boss{uuid.uuid4().hex[:8]}"
    settings = listing(account_settings, listed)
    email = f"{listed}@example.org"
    async with account_pages(settings) as browser:
        answer = await submit(
            browser,
            f"{PAGES}/sign-up",
            {"name": "Not The Boss", "email": email, "password": PASSWORD, "terms": "yes"},
        )
    assert answer.status_code == 200, answer.text
    async with database.sessionmaker() as session:
        account = await account_by_email(session, email)
    assert account is not None and account.username == f"{listed}-2"
    assert not is_platform_admin(account, settings)
