"""Hub names for new accounts: lowercase ``[a-z0-9-]``, from the e-mail or name, unique.

The name is chosen once at sign-up and never changes: it names the person's server, home
and records in the hub. A deleted account's name is retired, never to be given again: the
platform's records under it (projects, assistant conversations, usage) stay, and a newcomer
with the same name must not inherit them.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, select, union
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.models.account import Account, RetiredUsername

MAX_LENGTH = 32
# Names that read as the platform's own, or that the hub's URLs would confuse.
RESERVED = frozenset(
    {"admin", "root", "hub", "api", "user", "users", "services", "system", "support", "null"}
)


def base_username(email: str, display_name: str | None = None) -> str:
    """A candidate from the e-mail's local part, else the name.

    ``ada.lovelace+news@example.org`` → ``ada-lovelace``."""
    local = email.partition("@")[0].partition("+")[0]
    for source in (local, display_name or ""):
        ascii_text = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode()
        name = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_LENGTH].strip("-")
        if name and name not in RESERVED:
            return name
    return "user"


def _base_or_suffixed(column: InstrumentedAttribute[str], base: str) -> ColumnElement[bool]:
    return (column == base) | column.like(f"{base}-%")


async def unique_username(
    db_session: AsyncSession, base: str, withheld: frozenset[str] = frozenset()
) -> str:
    """``base``, or ``base-2``, ``base-3``… whichever no account has and none had before,
    and none of ``withheld`` (names the operator lists as admins: nobody gets one of those
    by signing up with an address that starts with it)."""
    base = base[: MAX_LENGTH - 4].strip("-") or "user"
    # One statement, one snapshot: a deletion committing meanwhile (account gone, name
    # retired in the same transaction) is seen whole or not at all.
    names = union(
        select(Account.username).where(_base_or_suffixed(Account.username, base)),
        select(RetiredUsername.username).where(_base_or_suffixed(RetiredUsername.username, base)),
    )
    taken = set((await db_session.scalars(names)).all()) | withheld
    if base not in taken and base not in RESERVED:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


async def is_retired(db_session: AsyncSession, username: str) -> bool:
    """Whether ``username`` was a deleted account's."""
    return await db_session.get(RetiredUsername, username) is not None


async def retire_username(db_session: AsyncSession, username: str) -> None:
    """Record ``username`` as never to be given again (in the caller's transaction)."""
    await db_session.execute(
        insert(RetiredUsername).values(username=username).on_conflict_do_nothing()
    )
