"""Password hashes: argon2id for every new hash; NativeAuthenticator's bcrypt read once.

argon2 costs a few hundred milliseconds of CPU and releases the GIL, so hashing and checking
run in a worker thread, never on the event loop. A bcrypt hash carried over from
NativeAuthenticator is checked on the first 72 bytes of the password (what bcrypt before 5.0
used silently) and replaced by an argon2id hash at that sign-in.

Weak passwords are refused: shorter than ``MIN_LENGTH``, one of the 30,000 most common
passwords of leaked sets (the list zxcvbn ships), or the person's own address or name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import bcrypt
from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.accounts.errors import FormError

MIN_LENGTH = 10
MAX_LENGTH = 256
# argon2-cffi's defaults: RFC 9106's low-memory profile (argon2id, t=3, m=64 MiB, p=4).
HASHER = PasswordHasher()
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The most common passwords of leaked sets, lowercased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(
    password: str, *, email: str | None = None, name: str | None = None
) -> str | None:
    """Why ``password`` is too weak to keep, or None."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered.isdigit():
        return "Use letters too, not only digits."
    if lowered in common_passwords() or lowered.strip("0123456789!.") in common_passwords():
        return "This password is one of the most common ones; choose one that is yours alone."
    own = {email.lower(), email.split("@")[0].lower()} if email else set()
    if name:
        own.add(name.lower().replace(" ", ""))
    if any(len(word) >= 4 and word in lowered.replace(" ", "") for word in own):
        return "Do not use your e-mail address or name in your password."
    if len(set(password)) < 4:
        return "Use more different characters."
    return None


def check_new_password(password: str, *, email: str | None = None, name: str | None = None) -> None:
    """Raise ``FormError`` (field ``password``) for a password too weak to keep."""
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise FormError("password", problem)


async def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return await to_thread.run_sync(hasher.hash, password)


@dataclass(frozen=True)
class Verification:
    ok: bool
    # Set when the caller should store this hash instead (old bcrypt, older argon2 costs).
    new_hash: str | None = None


def _verify(stored: str, password: str, hasher: PasswordHasher) -> Verification:
    if stored.startswith("$argon2"):
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return Verification(False)
        return Verification(
            True, hasher.hash(password) if hasher.check_needs_rehash(stored) else None
        )
    if stored.startswith(_BCRYPT_PREFIXES):
        try:
            ok = bcrypt.checkpw(password.encode()[:_BCRYPT_MAX_BYTES], stored.encode())
        except ValueError:  # a malformed hash
            return Verification(False)
        return Verification(True, hasher.hash(password)) if ok else Verification(False)
    return Verification(False)


# Checked when there is no account (or no password), so a wrong address costs the same
# time as a wrong password and timing does not tell which addresses have accounts.
@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return HASHER.hash("not a password of anyone's")


async def verify_password(
    stored: str | None, password: str, hasher: PasswordHasher = HASHER
) -> Verification:
    """Whether ``password`` matches ``stored``; always costs one hash check."""
    if not stored:
        await to_thread.run_sync(_verify, _dummy_hash(), password, hasher)
        return Verification(False)
    return await to_thread.run_sync(_verify, stored, password, hasher)
