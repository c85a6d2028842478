"""A person's own account pages (overview, password, deletion rules) on the real database
and a real SMTP server, in the in-process browser; the hub here answers nowhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from api.accounts.passwords import verify_password
from api.accounts.sessions import SESSION_COOKIE
from api.core.config import Settings
from api.core.db import Database
from api.models import Event
from api.models.account import Account, AccountSession
from tests.support.accounts import (
    PAGES,
    PASSWORD,
    create_person,
    csrf_token,
    sign_in,
    stored_account,
    submit,
)
from tests.support.own_account import (
    SETTINGS_PAGES,
    nothing_listening,
    pages_with_hub,
    sign_in_by_link,
    use_latest_link,
)
from tests.support.smtp import SmtpServer

NEW_PASSWORD = "quartz-lantern-harbour-77"


@pytest.fixture
async def client(account_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with pages_with_hub(account_settings, nothing_listening(), "unused") as browser:
        yield browser


async def events(database: Database, account: Account) -> list[Event]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(Event).where(Event.stream == f"account:{account.id}").order_by(Event.id)
        )
        return list(rows.all())


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get(SETTINGS_PAGES)).status_code == 200


@pytest.mark.parametrize(
    "path", ["", "/password", "/tokens", "/sessions", "/delete"], ids=lambda p: p or "/"
)
async def test_a_visitor_is_sent_to_sign_in_and_back(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(f"{SETTINGS_PAGES}{path}")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"{PAGES}/sign-in?next=%2Fservices%2Fapi%2Faccounts%2Fsettings{path.replace('/', '%2F')}"
    )
    posted = await client.post(f"{SETTINGS_PAGES}/password", data={"new_password": "x"})
    assert posted.status_code == 303 and "/sign-in?next=" in posted.headers["location"]


async def test_the_overview_shows_the_account_and_links_every_setting(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    page = await client.get(SETTINGS_PAGES)
    assert page.status_code == 200
    for text in ("Ada Lovelace", account.username, str(account.email), "confirmed", "Developer"):
        assert text in page.text
    for link in ("profile", "email"):
        assert f'href="{PAGES}/{link}"' in page.text
    for link in ("password", "sign-in-methods", "tokens", "sessions", "delete"):
        assert f'href="{SETTINGS_PAGES}/{link}"' in page.text
    # Every account page's header leads here.
    welcome = await client.get(f"{PAGES}/email")
    assert f'<a href="{PAGES}/settings">Account</a>' in welcome.text


async def test_changing_the_password_keeps_this_browser_and_signs_out_the_others(
    account_settings: Settings, database: Database, smtp: SmtpServer, client: httpx.AsyncClient
) -> None:
    account = await create_person(database)
    assert account.email is not None
    await sign_in(client, account)
    async with pages_with_hub(account_settings, nothing_listening(), "unused") as other:
        await sign_in(other, account)
        assert await signed_in(other)

        changed = await submit(
            client,
            f"{SETTINGS_PAGES}/password",
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == f"{SETTINGS_PAGES}?done=password_changed"
        shown = await client.get(changed.headers["location"])
        assert "Your password was changed" in shown.text
        assert not await signed_in(other)
    assert await signed_in(client)
    row = await stored_account(database, account)
    assert (await verify_password(row.password_hash, NEW_PASSWORD)).ok
    assert not (await verify_password(row.password_hash, PASSWORD)).ok
    [mail] = smtp.inbox.to(account.email)
    assert mail.message["Subject"] == "Your password was changed on DATAZENtr"
    assert "Every other browser and device was signed out" in mail.text
    assert f"{PAGES}/forgot" in mail.links()[0]
    assert "account.password_changed" in [e.type for e in await events(database, account)]


async def test_a_password_change_refuses_a_wrong_current_weak_or_mistyped_password(
    client: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    path = f"{SETTINGS_PAGES}/password"
    cases = [
        ({"current_password": "not-my-password-at-all"}, "This is not your current password."),
        ({"current_password": ""}, "Enter your current password."),
        ({"new_password": "password123", "new_password_again": "password123"}, "most common"),
        ({"new_password_again": NEW_PASSWORD + "x"}, "The two new passwords are not the same."),
    ]
    for change, message in cases:
        form = {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        } | change
        refused = await submit(client, path, form)
        assert refused.status_code == 422, refused.text
        assert message in refused.text
        # Passwords are never written back into the form.
        assert PASSWORD not in refused.text and NEW_PASSWORD not in refused.text
    row = await stored_account(database, account)
    assert (await verify_password(row.password_hash, PASSWORD)).ok
    assert "account.password_check_failed" in [e.type for e in await events(database, account)]
    assert smtp.inbox.to(str(account.email)) == []


async def test_wrong_current_passwords_lock_like_failed_sign_ins(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    path = f"{SETTINGS_PAGES}/password"
    wrong = {"current_password": "wrong-guess-1234", "new_password": NEW_PASSWORD}
    statuses = [(await submit(client, path, wrong)).status_code for _ in range(5)]
    assert statuses[:4] == [422] * 4 and statuses[4] == 429
    locked = await submit(client, path, wrong | {"current_password": PASSWORD})
    assert locked.status_code == 429 and "Try again after" in locked.text


async def test_a_form_without_its_token_changes_nothing(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
    }
    for token in (None, "forged"):
        data = form | ({"csrf_token": token} if token else {})
        refused = await client.post(f"{SETTINGS_PAGES}/password", data=data)
        assert refused.status_code == 403 and "Please send the form again" in refused.text
    for path in ("/sessions/sign-out-all", "/tokens", "/delete"):
        refused = await client.post(f"{SETTINGS_PAGES}{path}", data={"confirm_username": "x"})
        assert refused.status_code == 403, path
    assert (
        await verify_password((await stored_account(database, account)).password_hash, PASSWORD)
    ).ok
    assert await signed_in(client)


async def test_an_account_without_a_password_sets_one_after_a_fresh_sign_in(
    client: httpx.AsyncClient, database: Database, smtp: SmtpServer
) -> None:
    account = await create_person(database, with_password=False)
    assert account.email is not None
    await sign_in_by_link(client, smtp, account.email)
    form = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}

    # Signed in a while ago: a new sign-in first.
    async with database.sessionmaker() as session:
        await session.execute(
            update(AccountSession)
            .where(AccountSession.account_id == account.id)
            .values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
        await session.commit()
    page = await client.get(f"{SETTINGS_PAGES}/password")
    assert "Set a password" in page.text and "Mail me a sign-in link" in page.text
    assert 'name="new_password"' not in page.text
    refused = await client.post(
        f"{SETTINGS_PAGES}/password", data=form | {"csrf_token": csrf_token(page.text)}
    )
    assert refused.status_code == 403 and "sign in again first" in refused.text
    assert (await stored_account(database, account)).password_hash is None

    asked = await client.post(
        f"{SETTINGS_PAGES}/sign-in-again",
        data={"then": "password", "csrf_token": csrf_token(page.text)},
    )
    assert asked.status_code == 200 and "Check your mail" in asked.text
    assert await use_latest_link(client, smtp, account.email) == f"{SETTINGS_PAGES}/password"

    fresh = await client.get(f"{SETTINGS_PAGES}/password")
    assert 'name="new_password"' in fresh.text and 'name="current_password"' not in fresh.text
    done = await client.post(
        f"{SETTINGS_PAGES}/password", data=form | {"csrf_token": csrf_token(fresh.text)}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{SETTINGS_PAGES}?done=password_set"
    assert (
        await verify_password((await stored_account(database, account)).password_hash, NEW_PASSWORD)
    ).ok
    assert smtp.inbox.to(account.email)[-1].message["Subject"] == (
        "A password was set on DATAZENtr"
    )
    assert "account.password_set" in [e.type for e in await events(database, account)]


async def test_with_the_hub_down_the_token_and_delete_pages_say_try_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    tokens = await client.get(f"{SETTINGS_PAGES}/tokens")
    assert tokens.status_code == 503
    assert "The hub is not answering" in tokens.text and "Try again" in tokens.text

    created = await submit(
        client,
        f"{SETTINGS_PAGES}/tokens",
        {"note": "laptop", "scope_api": "yes", "expires": "30"},
        page=f"{SETTINGS_PAGES}/delete",
    )
    assert created.status_code == 503 and "Nothing was changed" in created.text

    deleted = await submit(
        client,
        f"{SETTINGS_PAGES}/delete",
        {"confirm_username": account.username, "password": PASSWORD},
    )
    assert deleted.status_code == 503 and "Nothing was changed" in deleted.text
    assert (await stored_account(database, account)).username == account.username
    assert await signed_in(client)


async def test_deletion_needs_the_user_name_and_the_password(
    client: httpx.AsyncClient, database: Database
) -> None:
    account = await create_person(database)
    await sign_in(client, account)
    page = await client.get(f"{SETTINGS_PAGES}/delete")
    assert page.status_code == 200
    assert "What is deleted at once" in page.text and "deletes your files with it" in page.text
    for form, message in [
        ({"confirm_username": "someone-else", "password": PASSWORD}, "Type your user name"),
        ({"confirm_username": account.username, "password": "wrong-guess-1234"}, "not your"),
    ]:
        refused = await submit(client, f"{SETTINGS_PAGES}/delete", form)
        assert refused.status_code == 422 and message in refused.text
    assert (await stored_account(database, account)).id == account.id
    assert SESSION_COOKIE in client.cookies
