"""The account flows: sign up, verify, sign in (password or mailed link), reset, profile.

No HTTP here: the pages call these and show what they raise (``api.accounts.errors``).
Answers that could tell whether an address has an account (sign-up, mailed links, resets)
are the same either way; only the mail that follows differs (an owner who already has an
account is told that someone tried to sign up with their address).
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links, ratelimit
from api.accounts.errors import FormError, RateLimited, SignInFailed, SignUpClosed
from api.accounts.mail import Mailer, compose
from api.accounts.passwords import check_new_password, hash_password, verify_password
from api.accounts.roles import listed_usernames
from api.accounts.sessions import mailed_next, sign_out_everywhere
from api.accounts.usernames import base_username, unique_username
from api.core.config import Settings
from api.events import append_event
from api.models.account import Account

log = logging.getLogger(__name__)

# Who a person may say they are at profile completion (admins are made by admins).
SELF_CHOSEN_ROLES = ("student", "developer")
MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# Enough to catch typing mistakes; the verification mail proves the rest.
_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+$")
SIGN_IN_FAILED = "The e-mail address or password is not right."
LOCKED = "Too many failed sign-ins for this address or from this network."
TOO_MANY_MAILS = "We have sent several mails to this address recently."


def normal_email(value: str, field: str = "email") -> str:
    """The address, trimmed; ``FormError`` if it cannot be one."""
    email = value.strip()
    if not email:
        raise FormError(field, "Enter your e-mail address.")
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        raise FormError(field, "Enter an e-mail address like name@example.org.")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def on_domains(email: str, domains: frozenset[str]) -> bool:
    """Whether the address is on one of ``domains`` or a subdomain of one."""
    domain = email_domain(email)
    return any(domain == d or domain.endswith("." + d) for d in domains)


async def account_by_email(db_session: AsyncSession, email: str) -> Account | None:
    account: Account | None = await db_session.scalar(
        select(Account).where(func.lower(Account.email) == email.lower())
    )
    return account


def _event(db_session: AsyncSession, account: Account | None, type: str, **payload: Any) -> None:
    append_event(
        db_session,
        stream=f"account:{account.id}" if account else "accounts",
        type=type,
        actor=account.username if account else None,
        payload=payload,
    )


async def _mail(
    settings: Settings, mailer: Mailer, *, to: str, template: str, **context: Any
) -> None:
    await mailer.send(compose(settings, to=to, template=template, **context))


async def _mail_link(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    account: Account,
    *,
    purpose: str,
    email: str,
    payload: dict[str, Any] | None = None,
    event: str | None = None,
    **lifetime: int,
) -> None:
    """Issue a single-use link for ``account``, commit it (with ``event``), then mail it
    to ``email`` with the template named like the purpose and the link's ``lifetime``."""
    token = await links.issue_link(
        db_session, purpose=purpose, email=email, account_id=account.id, payload=payload
    )
    if event is not None:
        _event(db_session, account, event)
    await db_session.commit()
    await _mail(
        settings,
        mailer,
        to=email,
        template=purpose,
        name=account.display_name or account.username,
        url=links.link_url(settings, purpose, token),
        **lifetime,
    )


async def _mail_recipient(
    db_session: AsyncSession, purpose: str, email: str
) -> tuple[str, Account | None]:
    """The normalised address and its active account, after counting this request against
    the address's mail limit. Without an account the request's rate-limit record is
    committed here: the caller answers as if a mail went out."""
    email = normal_email(email)
    await _limit_mails(db_session, purpose, email)
    account = await account_by_email(db_session, email)
    if account is None or account.disabled_at is not None:
        await db_session.commit()
        return email, None
    return email, account


async def _limit_mails(db_session: AsyncSession, purpose: str, email: str) -> None:
    """Refuse (for any address alike) after a few mails of one kind; else count this one."""
    limit = ratelimit.mail_limit(purpose, email)
    await ratelimit.refuse_if_limited(db_session, limit, message=TOO_MANY_MAILS)
    ratelimit.record(db_session, limit)


# Sign-up and verification --------------------------------------------------------------


async def sign_up(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    *,
    name: str,
    email: str,
    password: str,
    terms_accepted: bool,
    next_url: str = "",
) -> None:
    """Create an unverified account and mail its verification link (which carries
    ``next_url``, where the person was going); for an address that has an account already,
    mail its owner instead. Both read the same to the visitor."""
    if not settings.open_signup:
        raise SignUpClosed(
            "Sign-up is closed on this platform. Ask its operator for an invitation."
        )
    name = name.strip()
    if not name:
        raise FormError("name", "Enter your name.")
    if len(name) > MAX_NAME_LENGTH:
        raise FormError("name", f"Use at most {MAX_NAME_LENGTH} characters.")
    email = normal_email(email)
    if settings.signup_email_domains and not on_domains(email, settings.signup_email_domains):
        allowed = ", ".join(sorted(settings.signup_email_domains))
        raise FormError("email", f"Sign-up is open to addresses at {allowed} only.")
    check_new_password(password, email=email, name=name)
    if not terms_accepted:
        raise FormError("terms", "Accept the terms of use to create an account.")
    await _limit_mails(db_session, "sign_up", email)
    # Hashed either way, so both answers take as long.
    password_hash = await hash_password(password)
    existing = await account_by_email(db_session, email)
    if existing is None:
        account = await new_account(
            db_session,
            email=email,
            name=name,
            password_hash=password_hash,
            terms_accepted_at=datetime.now(UTC),
            withheld=listed_usernames(settings),
        )
        if account is not None:
            _event(db_session, account, "account.signed_up", method="password")
            await _mail_link(
                db_session,
                settings,
                mailer,
                account,
                purpose="verify_email",
                email=email,
                payload={"next": mailed_next(next_url)} if next_url else None,
                hours=24,
            )
            return
        # A sign-up for the same address at the same moment got there first: this one is
        # answered as any other for an address with an account.
        existing = await account_by_email(db_session, email)
        assert existing is not None  # why new_account returns None
    await _tell_owner_of_sign_up(db_session, settings, mailer, existing, email)


async def _tell_owner_of_sign_up(
    db_session: AsyncSession, settings: Settings, mailer: Mailer, owner: Account, email: str
) -> None:
    """The answer to a sign-up for an address with an account: its owner is told by mail."""
    _event(db_session, owner, "account.sign_up_repeated")
    await db_session.commit()
    await _mail(
        settings,
        mailer,
        to=email,
        template="sign_up_existing",
        name=owner.display_name or owner.username,
        sign_in_url=links.page_url(settings, "sign-in"),
        reset_url=links.page_url(settings, "forgot"),
    )


# Attempts at a free user name before giving up (each retry follows a clash with another
# account made at the same moment).
USERNAME_ATTEMPTS = 5


async def new_account(
    db_session: AsyncSession,
    *,
    email: str,
    name: str,
    password_hash: str | None,
    role: str = "developer",
    terms_accepted_at: datetime | None = None,
    withheld: frozenset[str] = frozenset(),
) -> Account | None:
    """A new account for ``email`` under a user name no account has or had (usernames.py),
    added and flushed in a savepoint, so a clash undoes only it; the caller commits.

    None when the address got an account meanwhile (another sign-up or import committed
    it between the caller's check and this insert). ``FormError`` if every name tried was
    taken the same way. No account gets a name of ``withheld``."""
    base = base_username(email, name)
    for _attempt in range(USERNAME_ATTEMPTS):
        account = Account(
            id=uuid.uuid4(),
            username=await unique_username(db_session, base, withheld),
            email=email,
            display_name=name,
            password_hash=password_hash,
            role=role,
            terms_accepted_at=terms_accepted_at,
            session_epoch=0,
        )
        try:
            # Added inside the savepoint: its rollback then takes the account out of the
            # session again, and the caller's transaction stays usable.
            async with db_session.begin_nested():
                db_session.add(account)
                await db_session.flush()
        except IntegrityError:
            if await account_by_email(db_session, email) is not None:
                return None
            continue  # someone took the name between the check and the insert
        return account
    raise FormError("name", "We could not choose a user name for you; try again.")


async def _create_account(
    db_session: AsyncSession,
    *,
    name: str,
    email: str,
    password_hash: str,
    withheld: frozenset[str] = frozenset(),
) -> Account:
    """A new account with a password and the terms accepted now; ``FormError`` if the
    address got an account at the same moment (trying again finds that account)."""
    account = await new_account(
        db_session,
        email=email,
        name=name,
        password_hash=password_hash,
        terms_accepted_at=datetime.now(UTC),
        withheld=withheld,
    )
    if account is None:
        raise FormError("email", "Try again in a moment.")
    return account


async def resend_verification(
    db_session: AsyncSession, settings: Settings, mailer: Mailer, *, email: str
) -> None:
    """Mail a new verification link if the address has an unverified account."""
    email, account = await _mail_recipient(db_session, "verify_email", email)
    if account is None:
        return
    if account.email_verified_at is not None:
        await db_session.commit()
        return
    await _mail_link(
        db_session, settings, mailer, account, purpose="verify_email", email=email, hours=24
    )


async def confirm_email(db_session: AsyncSession, token: str | None) -> tuple[Account, str]:
    """Use a verification link: the address (or the student address) is verified. Also
    where the person was going when they signed up (empty if nowhere in particular)."""
    row = await links.use_link(db_session, "verify_email", token)
    account = await db_session.get(Account, row.account_id)
    assert account is not None  # use_link checked it
    now = datetime.now(UTC)
    if row.payload.get("kind") == "student":
        account.student_verified_at = now
        _event(db_session, account, "account.student_verified", email=row.email)
    elif row.payload.get("kind") == "new_email":
        if await account_by_email(db_session, row.email) not in (None, account):
            raise FormError("email", "Another account has this address now.")
        previous = account.email
        account.email, account.email_verified_at = row.email, now
        _event(db_session, account, "account.email_changed", email=row.email, previous=previous)
    else:
        if account.email_verified_at is None:
            account.email_verified_at = now
        _event(db_session, account, "account.email_verified", email=row.email)
    return account, str(row.payload.get("next") or "")


# Signing in ------------------------------------------------------------------------------


async def sign_in_with_password(
    db_session: AsyncSession, *, email: str, password: str, client_address: str | None
) -> Account:
    """The account these credentials prove; ``SignInFailed`` or ``RateLimited`` else.

    ``email`` may also be a user name (accounts carried over from NativeAuthenticator may
    have no address yet). Failures count against what was typed (whether or not it names an
    account) and the client's address; a success clears the failures and upgrades an old
    hash."""
    if "@" in email:
        email = normal_email(email)
        account = await account_by_email(db_session, email)
    else:
        email = email.strip().lower()
        if not email:
            raise FormError("email", "Enter your e-mail address.")
        account = await db_session.scalar(select(Account).where(Account.username == email))
    by_account = ratelimit.account_limit(email)
    by_address = ratelimit.address_limit(client_address)
    await ratelimit.refuse_if_limited(db_session, by_account, by_address, message=LOCKED)
    checked = await verify_password(account.password_hash if account else None, password)
    if not checked.ok or account is None or account.disabled_at is not None:
        ratelimit.record(db_session, by_account, by_address)
        _event(db_session, account, "account.sign_in_failed", method="password", email=email)
        await db_session.flush()
        locked_until = await ratelimit.retry_at(db_session, by_account)
        if locked_until is not None:
            _event(db_session, account, "account.locked", email=email)
        await db_session.commit()
        if locked_until is not None:
            raise RateLimited(
                f"{LOCKED} Try again after {ratelimit.when(locked_until)}.", locked_until
            )
        if checked.ok and account is not None and account.disabled_at is not None:
            raise SignInFailed("This account is disabled. Ask the platform's operator why.")
        raise SignInFailed(SIGN_IN_FAILED)
    if checked.new_hash:
        account.password_hash = checked.new_hash
    await ratelimit.forget(db_session, by_account)
    return account


async def request_magic_link(
    db_session: AsyncSession, settings: Settings, mailer: Mailer, *, email: str, next_url: str
) -> None:
    """Mail a sign-in link (15 minutes, once) if the address has an account."""
    email, account = await _mail_recipient(db_session, "magic_link", email)
    if account is None:
        return
    await _mail_link(
        db_session,
        settings,
        mailer,
        account,
        purpose="magic_link",
        email=email,
        payload={"next": mailed_next(next_url)},
        event="account.magic_link_sent",
        minutes=15,
    )


async def use_magic_link(db_session: AsyncSession, token: str | None) -> tuple[Account, str]:
    """The account a sign-in link proves (its address is verified by it), and where the
    person was going."""
    row = await links.use_link(db_session, "magic_link", token)
    account = await db_session.get(Account, row.account_id)
    assert account is not None  # use_link checked it
    if account.email_verified_at is None:
        account.email_verified_at = datetime.now(UTC)
    return account, str(row.payload.get("next") or "")


# Forgotten passwords -----------------------------------------------------------------------


async def request_password_reset(
    db_session: AsyncSession, settings: Settings, mailer: Mailer, *, email: str
) -> None:
    """Mail a reset link (30 minutes, once) if the address has an account."""
    email, account = await _mail_recipient(db_session, "reset_password", email)
    if account is None:
        return
    await _mail_link(
        db_session,
        settings,
        mailer,
        account,
        purpose="reset_password",
        email=email,
        event="account.reset_requested",
        minutes=30,
    )


async def reset_password(db_session: AsyncSession, *, token: str | None, password: str) -> Account:
    """Set a new password with a reset link; every session of the account is signed out
    and its other reset and sign-in links stop working."""
    row = await links.check_link(db_session, "reset_password", token)
    account = await db_session.get(Account, row.account_id)
    assert account is not None  # check_link checked it
    check_new_password(password, email=account.email, name=account.display_name)
    new_hash = await hash_password(password)
    row = await links.use_link(db_session, "reset_password", token)
    account.password_hash = new_hash
    if account.email_verified_at is None:
        account.email_verified_at = datetime.now(UTC)
    await sign_out_everywhere(db_session, account)
    await links.retire_links(db_session, account.id, "reset_password", "magic_link")
    if account.email:
        await ratelimit.forget(db_session, ratelimit.account_limit(account.email))
    _event(db_session, account, "account.password_reset")
    return account


async def request_email_change(
    db_session: AsyncSession, settings: Settings, mailer: Mailer, account: Account, *, email: str
) -> None:
    """Mail a link that makes ``email`` the account's address once opened. An address
    another account has gets no mail (and the same answer)."""
    email = normal_email(email)
    await _limit_mails(db_session, "new_email", email)
    owner = await account_by_email(db_session, email)
    if owner is not None and owner.id != account.id:
        _event(db_session, account, "account.email_change_refused", email=email)
        await db_session.commit()
        return
    await _mail_link(
        db_session,
        settings,
        mailer,
        account,
        purpose="verify_email",
        email=email,
        payload={"kind": "new_email"},
        hours=24,
    )


# Profile ----------------------------------------------------------------------------------


async def complete_profile(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    account: Account,
    *,
    role: str,
    institution: str,
    student_email: str,
) -> bool:
    """Store the role and institution. A student address on an academic domain gets a
    verification mail (True when one was sent); a verified account address on such a
    domain makes the person a verified student at once."""
    if role not in SELF_CHOSEN_ROLES and role != account.role:
        raise FormError("role", "Choose student or developer.")
    institution = institution.strip()
    if len(institution) > MAX_NAME_LENGTH:
        raise FormError("institution", f"Use at most {MAX_NAME_LENGTH} characters.")
    if role == "student" and not institution:
        raise FormError("institution", "Enter your school or university.")
    mail_to: str | None = None
    now = datetime.now(UTC)
    if role == "student" and student_email.strip():
        address = normal_email(student_email, "student_email")
        if not on_domains(address, settings.academic_email_domains):
            raise FormError(
                "student_email",
                "This address is not on a domain this platform knows as academic"
                + (
                    f" ({', '.join(sorted(settings.academic_email_domains))})."
                    if settings.academic_email_domains
                    else "; the operator has listed none yet."
                ),
            )
        if address.lower() != (account.student_email or "").lower() or not (
            account.student_verified_at
        ):
            if (
                account.email
                and address.lower() == account.email.lower()
                and (account.email_verified_at)
            ):
                account.student_email, account.student_verified_at = address, now
            else:
                account.student_email, account.student_verified_at = address, None
                mail_to = address
    elif (
        role == "student"
        and account.email
        and account.email_verified_at
        and on_domains(account.email, settings.academic_email_domains)
    ):
        account.student_email, account.student_verified_at = account.email, now
    account.role = role
    account.institution = institution or None
    account.profile_completed_at = account.profile_completed_at or now
    _event(db_session, account, "account.profile_completed", role=role)
    token = None
    if mail_to:
        await _limit_mails(db_session, "student_email", mail_to)
        token = await links.issue_link(
            db_session,
            purpose="verify_email",
            email=mail_to,
            account_id=account.id,
            payload={"kind": "student"},
        )
    await db_session.commit()
    if mail_to and token:
        await _mail(
            settings,
            mailer,
            to=mail_to,
            template="verify_student",
            name=account.display_name or account.username,
            url=links.link_url(settings, "verify_email", token),
            hours=24,
        )
    return mail_to is not None
