"""What a verified outside identity does to accounts. Never a silent link:

1. An identity already linked signs its account in.
2. A signed-in person who asked to link a provider gets it linked to their account.
3. A verified address of an existing account: its owner is mailed a link that confirms
   linking (single-use, 30 minutes); nobody is signed in until it is used.
4. Otherwise, with sign-up open, a new account: verified at once if the provider verified
   the address, else the usual verification mail.
5. An address the provider has not verified never links to anyone: the owner of an account
   with it is told someone tried, and the answer reads as for a new account.

No HTTP here: the routes show what these return or raise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import links, service
from api.accounts.errors import SignInFailed, SignUpClosed
from api.accounts.external.identity import OutsideIdentity, OutsideSignInFailed
from api.accounts.mail import Mailer
from api.accounts.roles import listed_usernames
from api.accounts.sessions import sign_out_everywhere
from api.core.config import Settings
from api.models.account import Account, AccountIdentity

log = logging.getLogger(__name__)

LINK_PURPOSE = "link_identity"
LINK_MINUTES = int(links.LIFETIMES[LINK_PURPOSE].total_seconds() // 60)
DISABLED = "This account is disabled. Ask the platform's operator why."


@dataclass(frozen=True)
class Outcome:
    """What happened: ``signed_in`` (an account to sign in), ``linked`` (to the signed-in
    account), ``link_mailed`` (confirmation mailed to ``email``), ``check_mail`` (a
    verification mail, or a note to the address's owner)."""

    kind: Literal["signed_in", "linked", "link_mailed", "check_mail"]
    account: Account | None = None
    email: str | None = None
    new_account: bool = False


async def linked_identity(
    db_session: AsyncSession, identity: OutsideIdentity
) -> AccountIdentity | None:
    row: AccountIdentity | None = await db_session.scalar(
        select(AccountIdentity).where(
            AccountIdentity.provider == identity.provider,
            AccountIdentity.subject == identity.subject,
        )
    )
    return row


async def identities_of(db_session: AsyncSession, account: Account) -> list[AccountIdentity]:
    rows = await db_session.scalars(
        select(AccountIdentity)
        .where(AccountIdentity.account_id == account.id)
        .order_by(AccountIdentity.provider, AccountIdentity.created_at)
    )
    return list(rows.all())


async def _add_identity(
    db_session: AsyncSession, account: Account, identity: OutsideIdentity, *, via: str
) -> AccountIdentity:
    row = AccountIdentity(
        id=uuid.uuid4(),
        account_id=account.id,
        provider=identity.provider,
        subject=identity.subject,
        email=identity.email,
        last_used_at=datetime.now(UTC),
    )
    db_session.add(row)
    try:
        async with db_session.begin_nested():
            await db_session.flush()
    except IntegrityError:
        # The same identity was linked a moment ago (two callbacks at once).
        db_session.expunge(row)
        raise _taken(identity) from None
    service._event(
        db_session,
        account,
        "account.identity_linked",
        provider=identity.provider,
        email=identity.email,
        via=via,
    )
    log.info(
        "account %s linked %s identity %s", account.username, identity.provider, identity.subject
    )
    return row


def _taken(identity: OutsideIdentity) -> OutsideSignInFailed:
    return OutsideSignInFailed(
        "taken",
        f"This {identity.provider} identity ({identity.label}) is linked to another account "
        "here. Sign in with it to use that account, or unlink it there first.",
    )


# Signing in --------------------------------------------------------------------------------


async def sign_in_with(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    identity: OutsideIdentity,
    *,
    display_name: str,
    next_url: str,
) -> Outcome:
    """Rules 1, 3, 4 and 5 for a browser that is not linking. A ``signed_in`` outcome is
    not committed: the caller starts the session, which commits."""
    row = await linked_identity(db_session, identity)
    if row is not None:
        account = await db_session.get(Account, row.account_id)
        assert account is not None  # the row's foreign key cascades
        if account.disabled_at is not None:
            raise SignInFailed(DISABLED)
        row.last_used_at = datetime.now(UTC)
        if identity.email:
            row.email = identity.email
        return Outcome("signed_in", account)
    if identity.email is None:
        raise OutsideSignInFailed(
            "no_email",
            f"{display_name} did not tell us your e-mail address, and an account needs one. "
            f"Add an address at {display_name} (and allow sharing it), or sign up with your "
            "e-mail address.",
        )
    email = service.normal_email(identity.email)
    owner = await service.account_by_email(db_session, email)
    if owner is not None and identity.email_verified:
        return await _mail_link_confirmation(
            db_session, settings, mailer, owner, identity, display_name, email, next_url
        )
    if not settings.open_signup:
        raise SignUpClosed(
            "Sign-up is closed on this platform. If you have an account, sign in to it another "
            f"way and link {display_name} from its sign-in methods."
        )
    if settings.signup_email_domains and not service.on_domains(
        email, settings.signup_email_domains
    ):
        allowed = ", ".join(sorted(settings.signup_email_domains))
        raise OutsideSignInFailed(
            "domain",
            f"Sign-up is open to addresses at {allowed} only, and {display_name} gave us {email}.",
        )
    if owner is not None:
        # Rule 5: the provider has not verified the address, so it proves nothing about the
        # owner's account. Tell the owner; answer as for a new account.
        await _tell_owner(db_session, settings, mailer, owner, display_name, email)
        return Outcome("check_mail", email=email)
    account = await _new_account(db_session, identity, email, listed_usernames(settings))
    if identity.email_verified:
        account.email_verified_at = datetime.now(UTC)
        return Outcome("signed_in", account, new_account=True)
    await service._mail_link(
        db_session, settings, mailer, account, purpose="verify_email", email=email, hours=24
    )
    return Outcome("check_mail", account, email=email, new_account=True)


async def _new_account(
    db_session: AsyncSession, identity: OutsideIdentity, email: str, withheld: frozenset[str]
) -> Account:
    name = (identity.name or identity.label).strip()[: service.MAX_NAME_LENGTH] or email
    # The person signs in with the provider (or a mailed link) until they choose a password.
    account = await service._create_account(
        db_session, name=name, email=email, password_hash="", withheld=withheld
    )
    account.password_hash = None
    service._event(db_session, account, "account.signed_up", method=identity.provider)
    await _add_identity(db_session, account, identity, via="sign_up")
    return account


async def _tell_owner(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    owner: Account,
    display_name: str,
    email: str,
) -> None:
    await service._limit_mails(db_session, "external_sign_up_existing", email)
    service._event(db_session, owner, "account.identity_sign_up_refused", provider=display_name)
    await db_session.commit()
    if owner.disabled_at is not None:
        return
    await service._mail(
        settings,
        mailer,
        to=email,
        template="external_sign_up_existing",
        name=owner.display_name or owner.username,
        provider=display_name,
        sign_in_url=links.page_url(settings, "sign-in"),
        methods_url=links.page_url(settings, "settings/sign-in-methods"),
    )


async def _mail_link_confirmation(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    owner: Account,
    identity: OutsideIdentity,
    display_name: str,
    email: str,
    next_url: str,
) -> Outcome:
    """Rule 3: ask the owner of ``email`` to confirm; the mail's link does the linking."""
    await service._limit_mails(db_session, LINK_PURPOSE, email)
    if owner.disabled_at is not None:
        await db_session.commit()
        return Outcome("link_mailed", email=email)
    token = await links.issue_link(
        db_session,
        purpose=LINK_PURPOSE,
        email=email,
        account_id=owner.id,
        payload={
            "provider": identity.provider,
            "subject": identity.subject,
            "email": identity.email,
            "label": identity.label,
            "next": next_url,
        },
    )
    service._event(db_session, owner, "account.identity_link_mailed", provider=identity.provider)
    await db_session.commit()
    await service._mail(
        settings,
        mailer,
        to=email,
        template="external_link_identity",
        name=owner.display_name or owner.username,
        provider=display_name,
        label=identity.label,
        url=links.link_url(settings, LINK_PURPOSE, token),
        minutes=LINK_MINUTES,
    )
    return Outcome("link_mailed", email=email)


async def confirm_link(
    db_session: AsyncSession, token: str | None
) -> tuple[Account, OutsideIdentity, str]:
    """Use a mailed link: the identity it names is linked to its account (committed by the
    caller's session start). Returns the account, the identity and where the person was
    going."""
    row = await links.use_link(db_session, LINK_PURPOSE, token)
    account = await db_session.get(Account, row.account_id)
    assert account is not None  # use_link checked it
    identity = OutsideIdentity(
        provider=str(row.payload["provider"]),
        subject=str(row.payload["subject"]),
        email=row.payload.get("email"),
        email_verified=True,
        name=None,
        label=str(row.payload.get("label") or row.payload["subject"]),
    )
    existing = await linked_identity(db_session, identity)
    if existing is not None and existing.account_id != account.id:
        raise _taken(identity)
    if existing is None:
        await _add_identity(db_session, account, identity, via="mail")
    if account.email_verified_at is None:
        # The address was never proved before now: whoever chose the account's password
        # (perhaps not the address's owner, who has just proved it) must not keep a way in.
        account.password_hash = None
        await sign_out_everywhere(db_session, account)
        account.email_verified_at = datetime.now(UTC)
    return account, identity, str(row.payload.get("next") or "")


# Linking and unlinking for a signed-in person ----------------------------------------------


async def link_to(db_session: AsyncSession, account: Account, identity: OutsideIdentity) -> Outcome:
    """Rule 2: the signed-in ``account`` proved this identity too (committed here)."""
    existing = await linked_identity(db_session, identity)
    if existing is not None and existing.account_id != account.id:
        raise _taken(identity)
    if existing is None:
        await _add_identity(db_session, account, identity, via="signed_in")
    else:
        existing.last_used_at = datetime.now(UTC)
    await db_session.commit()
    return Outcome("linked", account)


def other_ways_in(
    account: Account, identities: list[AccountIdentity], leaving: AccountIdentity
) -> bool:
    """Whether ``account`` can still sign in without ``leaving``.

    A password is a way in, and so is another linked identity. So is a verified address:
    anyone who reads its mail can sign in by a mailed link (and set a password with a reset
    link), which is what the sign-in page offers to every account. Only an account whose
    address is unverified (or missing), with no password, depends on its last identity."""
    if account.password_hash:
        return True
    if any(row.id != leaving.id for row in identities):
        return True
    return account.email is not None and account.email_verified_at is not None


async def unlink(db_session: AsyncSession, account: Account, identity_id: str) -> AccountIdentity:
    """Remove one of ``account``'s identities (committed), unless it is the last way in."""
    identities = await identities_of(db_session, account)
    row = next((r for r in identities if str(r.id) == identity_id), None)
    if row is None:
        raise OutsideSignInFailed("unknown_identity", "That sign-in method is not on your account.")
    if not other_ways_in(account, identities, row):
        raise OutsideSignInFailed(
            "last_way_in",
            "This is the only way into your account. Confirm your e-mail address or set a "
            "password first, then unlink it.",
        )
    await db_session.delete(row)
    service._event(
        db_session, account, "account.identity_unlinked", provider=row.provider, email=row.email
    )
    await db_session.commit()
    log.info("account %s unlinked %s identity %s", account.username, row.provider, row.subject)
    return row
