"""Browser sessions on the platform's pages: who is signed in, and where they may be sent.

A signed-in browser carries ``SESSION_COOKIE``: the id of an ``AccountSession`` row and the
account's session epoch, signed with the api's secret key. The cookie alone proves nothing:
the row must exist and not be revoked, the account must not be disabled, and the epoch must
still be the account's (raising the epoch signs the account out everywhere).

``safe_next`` and ``login_url`` keep every redirect on the platform: only paths under the
api, the hub or users' servers, never another origin.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts.roles import raise_listed_admin
from api.core.names import API_PREFIX
from api.deps import settings_of
from api.events import append_event
from api.models.account import Account, AccountSession
from api.signing import BadSignature, sign, unsign

log = logging.getLogger(__name__)

SESSION_COOKIE = "datazentr-session"
# A session lasts this long from sign-in; then the person signs in again.
SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600
# last_seen_at is written at most this often, so reading pages does not write on each request.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
_SESSION_PURPOSE = "account-session"

ACCOUNTS_PREFIX = f"{API_PREFIX}accounts/"
SIGN_IN_PATH = f"{ACCOUNTS_PREFIX}sign-in"
DEFAULT_NEXT = "/hub/"
# Where a ``next`` may point: the platform's own pages, on the same origin.
SAFE_NEXT_PREFIXES = (API_PREFIX, "/hub/", "/user/")
_MAX_NEXT_LENGTH = 2000


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on the platform (api, hub, users' servers), else ``/hub/``.

    Only a path (with an optional query) is accepted, never a URL with a scheme or host:
    ``//elsewhere``, ``https://elsewhere/hub/``, backslashes and dot segments all fall back
    to the default, so a link can never send a person to another site."""
    if not value or len(value) > _MAX_NEXT_LENGTH:
        return DEFAULT_NEXT
    if any(ch == "\\" or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return DEFAULT_NEXT
    if not parts.path.startswith(SAFE_NEXT_PREFIXES):
        return DEFAULT_NEXT
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return DEFAULT_NEXT
    return value


def mailed_next(value: str) -> str:
    """Where a mailed link goes on to: ``value``, except a sign-in for the hub (the
    provider's authorize request), which becomes the hub's login. The hub keeps that
    request's state in the browser that started it, and a mail is often opened in another;
    the hub's login starts afresh in whichever browser opens the link."""
    if urlsplit(value).path == f"{API_PREFIX}oauth2/authorize":
        return "/hub/login"
    return value


def login_url(next_url: str) -> str:
    """The sign-in page, which sends the person on to ``next_url`` (if safe) afterwards.

    Pass a path with its query (``request.url.path + "?" + request.url.query``), not a full
    URL: full URLs are not platform paths and fall back to ``/hub/``."""
    return f"{SIGN_IN_PATH}?{urlencode({'next': safe_next(next_url)})}"


def _client_address(request: Request) -> str | None:
    return request.client.host[:64] if request.client else None


def _signed_value(request: Request) -> dict[str, object] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return unsign(
            cookie,
            settings_of(request).api_secret_key(),
            purpose=_SESSION_PURPOSE,
            max_age_seconds=SESSION_MAX_AGE_SECONDS,
        )
    except BadSignature:
        return None


async def current_session(request: Request, db_session: AsyncSession) -> AccountSession | None:
    """The browser's valid session row, or None (no cookie, bad signature, revoked, expired,
    disabled account, or an epoch the account has moved past)."""
    value = _signed_value(request)
    if value is None:
        return None
    try:
        session_id = uuid.UUID(str(value.get("sid")))
    except ValueError:
        return None
    row = await db_session.get(AccountSession, session_id)
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    if now - row.created_at > timedelta(seconds=SESSION_MAX_AGE_SECONDS):
        return None
    account = await db_session.get(Account, row.account_id)
    if account is None or account.disabled_at is not None:
        return None
    if value.get("epoch") != account.session_epoch:
        return None
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION:
        await _touch(db_session, row, now)
    return row


async def _touch(db_session: AsyncSession, row: AccountSession, now: datetime) -> None:
    """Record that the session was seen, in a transaction of its own: reading who is signed
    in must not commit the caller's unfinished work."""
    async with AsyncSession(db_session.bind) as own:
        await own.execute(
            update(AccountSession).where(AccountSession.id == row.id).values(last_seen_at=now)
        )
        await own.commit()
    set_committed_value(row, "last_seen_at", now)


async def current_account(request: Request, db_session: AsyncSession) -> Account | None:
    """The signed-in account of this browser, or None."""
    row = await current_session(request, db_session)
    if row is None:
        return None
    return await db_session.get(Account, row.account_id)


def _set_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE_SECONDS,
        path=API_PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


async def start_session(
    request: Request,
    response: Response,
    db_session: AsyncSession,
    account: Account,
    method: str,
) -> None:
    """Sign ``account`` in on this browser: a new session row (committed, with an
    ``account.signed_in`` event naming ``method``) and its cookie on ``response``.

    Any session the browser had before is revoked, so a cookie set before sign-in (session
    fixation) never becomes a signed-in one."""
    previous = await current_session(request, db_session)
    now = datetime.now(UTC)
    if previous is not None:
        previous.revoked_at = now
    user_agent = request.headers.get("user-agent")
    row = AccountSession(
        id=uuid.uuid4(),
        account_id=account.id,
        method=method,
        user_agent=user_agent[:300] if user_agent else None,
        client_address=_client_address(request),
        created_at=now,
        last_seen_at=now,
    )
    db_session.add(row)
    raise_listed_admin(db_session, settings_of(request), account)
    append_event(
        db_session,
        stream=f"account:{account.id}",
        type="account.signed_in",
        actor=account.username,
        payload={"method": method, "client_address": row.client_address},
    )
    await db_session.commit()
    value = sign(
        {"sid": str(row.id), "epoch": account.session_epoch},
        settings_of(request).api_secret_key(),
        purpose=_SESSION_PURPOSE,
    )
    _set_cookie(request, response, value)
    log.info("account %s signed in by %s", account.username, method)


async def end_session(request: Request, response: Response, db_session: AsyncSession) -> None:
    """Sign this browser out: its session row is revoked and the cookie removed."""
    row = await current_session(request, db_session)
    if row is not None:
        row.revoked_at = datetime.now(UTC)
        account = await db_session.get(Account, row.account_id)
        if account is not None:
            append_event(
                db_session,
                stream=f"account:{account.id}",
                type="account.signed_out",
                actor=account.username,
            )
        await db_session.commit()
    response.delete_cookie(SESSION_COOKIE, path=API_PREFIX)


async def sign_out_everywhere(
    db_session: AsyncSession, account: Account, *, keep: AccountSession | None = None
) -> None:
    """Revoke every session of ``account`` (except ``keep``). The caller commits.

    Also raises the session epoch unless a session is kept, so a cookie signed before now is
    refused even if its row were somehow restored."""
    now = datetime.now(UTC)
    statement = (
        update(AccountSession)
        .where(AccountSession.account_id == account.id, AccountSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if keep is not None:
        statement = statement.where(AccountSession.id != keep.id)
    else:
        account.session_epoch += 1
    await db_session.execute(statement)
