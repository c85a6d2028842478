"""Hub names for new accounts: lowercase ``[a-z0-9-]``, from the e-mail or name, unique.

The name is chosen once at sign-up and never changes: it names the person's server, home
and records in the hub.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models.account import Account

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


async def unique_username(db_session: AsyncSession, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``… whichever no account has yet."""
    base = base[: MAX_LENGTH - 4].strip("-") or "user"
    taken = set(
        (
            await db_session.scalars(
                select(Account.username).where(
                    (Account.username == base) | Account.username.like(f"{base}-%")
                )
            )
        ).all()
    )
    if base not in taken and base not in RESERVED:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
