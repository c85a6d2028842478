"""Carry NativeAuthenticator's users over into platform accounts, once, keeping their names.

NativeAuthenticator keeps its users in the hub's database (``users_info``: name, bcrypt
hash, optional e-mail, whether an admin authorised them); the hub's ``users`` table says who
is an admin. Each becomes an account with the same user name (their server and files keep
belonging to them) and the bcrypt hash, which the first sign-in replaces by argon2id.
Users an admin never authorised are carried over disabled. Running the import again adds
only users it has not seen, and never one whose account was deleted (its name is retired).

    python -m api.accounts.native_import            # the hub database in the data dir

The launcher runs it at every start with the platform's own sign-in, so a platform that
used NativeAuthenticator before keeps its people without a step of the operator's.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.errors import FormError
from api.accounts.service import account_by_email, normal_email
from api.accounts.usernames import is_retired
from api.core.config import Settings, get_settings
from api.core.db import Database
from api.events import append_event
from api.models.account import Account

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NativeUser:
    username: str
    password_hash: str
    email: str | None
    authorized: bool
    admin: bool


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    # (user name, why it was not imported)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def hub_database(settings: Settings) -> Path:
    return settings.data_dir / "jupyterhub.sqlite"


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(row[0]) for row in rows}


def read_native_users(path: Path) -> list[NativeUser]:
    """NativeAuthenticator's users in the hub database at ``path`` (read only); none if the
    file or its table does not exist."""
    if not path.exists():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = _tables(connection)
        if "users_info" not in tables:
            return []
        admins: set[str] = set()
        if "users" in tables:
            admins = {
                str(row[0])
                for row in connection.execute("SELECT name FROM users WHERE admin").fetchall()
            }
        rows = connection.execute(
            "SELECT username, password, email, is_authorized FROM users_info ORDER BY id"
        ).fetchall()
    finally:
        connection.close()
    users = []
    for username, password, email, authorized in rows:
        stored = password.decode("ascii") if isinstance(password, bytes) else str(password)
        users.append(
            NativeUser(
                username=str(username),
                password_hash=stored,
                email=str(email).strip() if email else None,
                authorized=bool(authorized),
                admin=str(username) in admins,
            )
        )
    return users


async def import_native_users(db_session: AsyncSession, users: list[NativeUser]) -> ImportReport:
    """Accounts for ``users`` not yet imported (committed); what was done."""
    report = ImportReport()
    now = datetime.now(UTC)
    for user in users:
        if await db_session.scalar(select(Account.id).where(Account.username == user.username)):
            report.skipped.append((user.username, "an account with this name exists"))
            continue
        if await is_retired(db_session, user.username):
            # Its account was deleted: carrying it over again would bring the person back.
            report.skipped.append((user.username, "the account with this name was deleted"))
            continue
        email = None
        if user.email:
            try:
                email = normal_email(user.email)
            except FormError:
                log.warning(
                    "%s: %r is not an e-mail address; imported without", user.username, user.email
                )
            if email and await account_by_email(db_session, email) is not None:
                log.warning(
                    "%s: %s belongs to another account; imported without", user.username, email
                )
                email = None
        account = Account(
            id=uuid.uuid4(),
            username=user.username,
            email=email,
            password_hash=user.password_hash,
            role="platform_admin" if user.admin else "developer",
            disabled_at=None if user.authorized else now,
            session_epoch=0,
        )
        db_session.add(account)
        append_event(
            db_session,
            stream=f"account:{account.id}",
            type="account.imported",
            actor=None,
            payload={"from": "nativeauthenticator", "authorized": user.authorized},
        )
        await db_session.flush()
        report.created.append(user.username)
    await db_session.commit()
    return report


async def import_from_hub_database(settings: Settings) -> ImportReport:
    """Import the users NativeAuthenticator left in the hub database of ``settings``."""
    database = Database(settings.sqlalchemy_url)
    try:
        async with database.sessionmaker() as session:
            return await import_native_users(session, read_native_users(hub_database(settings)))
    finally:
        await database.dispose()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = asyncio.run(import_from_hub_database(get_settings()))
    log.info("imported %d users: %s", len(report.created), ", ".join(report.created) or "none")
    for name, reason in report.skipped:
        log.info("skipped %s: %s", name, reason)


if __name__ == "__main__":
    main()
