"""NativeAuthenticator's users become accounts with their names; their old passwords work
once more and are rehashed; a user without an e-mail is asked for one."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import bcrypt
import httpx
from sqlalchemy import select

from api.accounts.native_import import import_native_users, read_native_users
from api.core.db import Database
from api.models.account import Account
from tests.support.accounts import PAGES, fresh_email, submit

# NativeAuthenticator 1.3's table, and the columns of the hub's own users table read here.
NATIVE_SCHEMA = """
CREATE TABLE users_info (id INTEGER PRIMARY KEY, username VARCHAR(128) NOT NULL,
  password BLOB NOT NULL, is_authorized BOOLEAN, login_email_sent BOOLEAN, email VARCHAR(128),
  has_2fa BOOLEAN, otp_secret VARCHAR(16));
CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(255), admin BOOLEAN);
"""


def hub_database(path: Path, rows: list[tuple[str, str, str | None, bool, bool]]) -> Path:
    """A hub database with NativeAuthenticator users (name, password, e-mail, authorised,
    admin), hashed as NativeAuthenticator does."""
    connection = sqlite3.connect(path)
    connection.executescript(NATIVE_SCHEMA)
    for name, password, email, authorized, admin in rows:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4))
        connection.execute(
            "INSERT INTO users_info (username, password, email, is_authorized, has_2fa, "
            "otp_secret) VALUES (?, ?, ?, ?, 0, 'ABCDEFGHIJKLMNOP')",
            (name, hashed, email, authorized),
        )
        connection.execute("INSERT INTO users (name, admin) VALUES (?, ?)", (name, admin))
    connection.commit()
    connection.close()
    return path


async def test_native_users_are_carried_over_once(tmp_path: Path, database: Database) -> None:
    suffix = uuid.uuid4().hex[:8]
    with_mail, without_mail, waiting = f"ada{suffix}", f"bob{suffix}", f"eve{suffix}"
    email = fresh_email("ada")
    path = hub_database(
        tmp_path / "jupyterhub.sqlite",
        [
            (with_mail, "ada's old password", email, True, True),
            (without_mail, "bob's old password", None, True, False),
            (waiting, "eve's old password", "not an address", False, False),
        ],
    )
    users = read_native_users(path)
    assert [u.username for u in users] == [with_mail, without_mail, waiting]
    async with database.sessionmaker() as session:
        report = await import_native_users(session, users)
    assert report.created == [with_mail, without_mail, waiting]
    async with database.sessionmaker() as session:
        again = await import_native_users(session, users)
        accounts = {
            a.username: a
            for a in await session.scalars(
                select(Account).where(Account.username.in_([with_mail, without_mail, waiting]))
            )
        }
    assert again.created == [] and len(again.skipped) == 3
    assert accounts[with_mail].role == "platform_admin" and accounts[with_mail].email == email
    assert accounts[with_mail].email_verified_at is None
    assert accounts[without_mail].role == "developer" and accounts[without_mail].email is None
    assert accounts[waiting].disabled_at is not None and accounts[waiting].email is None
    assert str(accounts[with_mail].password_hash).startswith("$2b$")


async def test_an_imported_user_signs_in_by_name_and_is_asked_for_an_address(
    tmp_path: Path, database: Database, browser: httpx.AsyncClient
) -> None:
    name = f"carol{uuid.uuid4().hex[:8]}"
    path = hub_database(
        tmp_path / "jupyterhub.sqlite", [(name, "carol's password", None, True, False)]
    )
    async with database.sessionmaker() as session:
        await import_native_users(session, read_native_users(path))
    answer = await submit(
        browser,
        f"{PAGES}/sign-in",
        {"email": name, "password": "carol's password", "next": "/hub/", "action": "password"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{PAGES}/email"
    asked = await browser.get(f"{PAGES}/email")
    assert asked.status_code == 200 and "Add your e-mail address" in asked.text
    async with database.sessionmaker() as session:
        account = await session.scalar(select(Account).where(Account.username == name))
    assert account is not None and str(account.password_hash).startswith("$argon2id$")


def test_no_hub_database_means_no_users(tmp_path: Path) -> None:
    assert read_native_users(tmp_path / "missing.sqlite") == []
