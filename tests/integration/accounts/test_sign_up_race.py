"""Two sign-ups at the same moment, through the account pages on the real database: both
checks find no account, then both insert. The one that loses the insert gets the same answer
as any sign-up (never a server error), and the address ends up with one account.

The moment is held open, not hoped for: each sign-up's check for an existing account waits
until the other's has run too, so both inserts really race in PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from api.accounts import service
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account
from tests.support.accounts import PAGES, PASSWORD, account_pages, csrf_token
from tests.support.smtp import SmtpServer

# Generous: the second sign-up may have to hash its password on a loaded 2-core machine.
MEETING_TIMEOUT = 120


@pytest.fixture
def checks_meet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The first two existence checks (one per sign-up) return only once both have run."""
    barrier = asyncio.Barrier(2)
    met = 0
    check = service.account_by_email

    async def meeting_check(db_session, email):  # type: ignore[no-untyped-def]
        nonlocal met
        found = await check(db_session, email)
        if met < 2:
            met += 1
            async with asyncio.timeout(MEETING_TIMEOUT):
                await barrier.wait()
        return found

    monkeypatch.setattr(service, "account_by_email", meeting_check)
    yield
    assert met == 2, "both sign-ups should have checked for an account"


async def open_form(browser: httpx.AsyncClient) -> str:
    page = await browser.get(f"{PAGES}/sign-up")
    assert page.status_code == 200
    return csrf_token(page.text)


async def sign_up_at_once(
    settings: Settings, people: list[tuple[str, str]]
) -> list[httpx.Response]:
    """Each (name, address) signs up from a browser of its own, all at the same moment."""
    async with account_pages(settings) as first, account_pages(settings) as second:
        browsers = [first, second]
        tokens = [await open_form(browser) for browser in browsers]
        return list(
            await asyncio.gather(
                *(
                    browser.post(
                        f"{PAGES}/sign-up",
                        data={
                            "name": name,
                            "email": email,
                            "password": PASSWORD,
                            "terms": "yes",
                            "csrf_token": token,
                        },
                    )
                    for browser, token, (name, email) in zip(browsers, tokens, people, strict=True)
                )
            )
        )


def without_form_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


async def test_two_sign_ups_for_one_address_at_once_both_read_check_your_mail(
    account_settings: Settings, database: Database, smtp: SmtpServer, checks_meet: None
) -> None:
    email = f"race-{uuid.uuid4().hex[:10]}@example.org"
    answers = await sign_up_at_once(
        account_settings, [("Ada Lovelace", email), ("Ada Lovelace", email)]
    )
    assert [answer.status_code for answer in answers] == [200, 200], answers[1].text
    assert all("Check your mail" in answer.text for answer in answers)
    assert without_form_tokens(answers[0].text) == without_form_tokens(answers[1].text)

    async with database.sessionmaker() as session:
        [account] = (
            await session.scalars(select(Account).where(func.lower(Account.email) == email.lower()))
        ).all()
        kinds = list(
            (
                await session.scalars(
                    select(Event.type).where(Event.stream == f"account:{account.id}")
                )
            ).all()
        )
    assert sorted(kinds) == ["account.sign_up_repeated", "account.signed_up"]
    # The winner's confirmation link, and the owner's notice of the other attempt.
    subjects = sorted(str(mail.message["Subject"]) for mail in smtp.inbox.to(email))
    assert len(subjects) == 2
    assert subjects[0].startswith("Confirm your e-mail address")
    assert "Someone tried to sign up" in subjects[1]


async def test_two_sign_ups_for_one_user_name_at_once_get_a_name_each(
    account_settings: Settings, database: Database, smtp: SmtpServer, checks_meet: None
) -> None:
    local = f"race-{uuid.uuid4().hex[:10]}"
    emails = [f"{local}@one.example", f"{local}@two.example"]
    answers = await sign_up_at_once(
        account_settings, [("Ada Lovelace", emails[0]), ("Grace Hopper", emails[1])]
    )
    assert [answer.status_code for answer in answers] == [200, 200], answers[1].text
    async with database.sessionmaker() as session:
        found = await session.execute(
            select(Account.email, Account.username).where(Account.email.in_(emails))
        )
        names = dict(found.tuples().all())
    assert sorted(names.values()) == [local, f"{local}-2"]
    for email in emails:
        [mail] = smtp.inbox.to(email)
        assert str(mail.message["Subject"]).startswith("Confirm your e-mail address")
