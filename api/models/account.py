"""Platform accounts: one per person, with the ways they sign in and their browser sessions.

The api is the platform's identity broker: an account's ``username`` is the name JupyterHub
knows the person by. A person signs in with a password, a magic link, or a linked identity
(GitHub, Google, an OpenID Connect provider); each of those proves the same account.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped

# Who a person is on the platform. Organisation admins manage their organisation (issue 13);
# platform admins manage the whole platform and are the hub's admins.
ROLES = ("student", "developer", "org_admin", "platform_admin")
# What a single-use mailed link is for.
LINK_PURPOSES = ("verify_email", "reset_password", "magic_link", "link_identity", "invitation")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Account(Timestamped, Base):
    """A person. ``email`` is unique without regard to case; it is trusted only once verified."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        Index("uq_accounts_email_lower", func.lower(text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # argon2id (passwords.py); a bcrypt hash carried over from NativeAuthenticator until the
    # next sign-in rehashes it; None for accounts that sign in only by link or provider.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), server_default="developer")
    institution: Mapped[str | None] = mapped_column(String(200))
    # An address on an academic domain the operator lists, verified by mail.
    student_email: Mapped[str | None] = mapped_column(String(320))
    student_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    terms_accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    profile_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Raised to sign the account out everywhere: sessions and links of an older epoch fail.
    session_epoch: Mapped[int] = mapped_column(Integer, server_default="0")


class AccountIdentity(Base):
    """An outside identity that signs an account in: (provider, subject) is unique."""

    __tablename__ = "account_identities"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # "github", "google", or the name of an operator-configured OIDC provider.
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_account_identities_provider_subject", "provider", "subject", unique=True),
    )


class AccountToken(Base):
    """A single-use, expiring link sent by mail. Only the token's SHA-256 is stored."""

    __tablename__ = "account_tokens"
    __table_args__ = (CheckConstraint(one_of("purpose", LINK_PURPOSES), name="purpose"),)

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # What the link carries besides the account: a new e-mail address, an identity to link.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountSession(Base):
    """A signed-in browser on the platform's pages; the cookie carries its id, signed."""

    __tablename__ = "account_sessions"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # How this session signed in: password, magic_link, or a provider's name.
    method: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RetiredUsername(Base):
    """The user name of a deleted account. It is never given to a new account: the hub, the
    spawners (home volume ``datazentr-home-<name>``) and the platform's own records
    (projects, assistant conversations, usage) know a person by it."""

    __tablename__ = "retired_usernames"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    retired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SignInAttempt(Base):
    """A failed (or throttled) sign-in, by account and by client address, for rate limits."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_subject_occurred_at", "subject", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    # "account:<lowercased e-mail or username>" or "address:<client address>".
    subject: Mapped[str] = mapped_column(String(400))
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
