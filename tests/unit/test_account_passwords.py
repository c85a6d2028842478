"""Password hashes (argon2id; NativeAuthenticator's bcrypt upgraded) and weak-password checks."""

from __future__ import annotations

import bcrypt
import pytest
from argon2 import PasswordHasher

from api.accounts.errors import FormError
from api.accounts.passwords import (
    HASHER,
    check_new_password,
    hash_password,
    password_problem,
    verify_password,
)

# Cheap parameters for hashes made only to be checked; the product's hasher sees them as
# stale and asks for a rehash, as it would after a cost increase.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def test_new_hashes_are_argon2id_and_check_out() -> None:
    stored = await hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    checked = await verify_password(stored, "correct horse battery")
    assert checked.ok and checked.new_hash is None
    assert not (await verify_password(stored, "correct horse batterx")).ok


async def test_hashes_with_older_costs_are_upgraded_at_sign_in() -> None:
    stored = CHEAP.hash("correct horse battery")
    checked = await verify_password(stored, "correct horse battery")
    assert checked.ok and checked.new_hash is not None
    assert not HASHER.check_needs_rehash(checked.new_hash)
    assert not (await verify_password(stored, "wrong")).new_hash


async def test_native_authenticator_bcrypt_hashes_work_once_then_become_argon2() -> None:
    # NativeAuthenticator stored bcrypt.hashpw(password.encode(), gensalt()) as bytes.
    stored = bcrypt.hashpw(b"an old password", bcrypt.gensalt(rounds=4)).decode()
    checked = await verify_password(stored, "an old password")
    assert checked.ok and checked.new_hash and checked.new_hash.startswith("$argon2id$")
    assert not (await verify_password(stored, "an old passwore")).ok


async def test_long_passwords_from_before_bcrypt_5_still_match_on_72_bytes() -> None:
    long_password = "p" * 80
    # bcrypt before 5.0 used the first 72 bytes silently; 5.0 refuses longer input.
    stored = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert (await verify_password(stored, long_password)).ok


async def test_no_hash_or_a_foreign_one_never_matches() -> None:
    assert not (await verify_password(None, "anything at all")).ok
    assert not (await verify_password("plain text", "plain text")).ok
    assert not (await verify_password("$2b$12$broken", "x")).ok


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1!", "at least 10"),
        ("password123", "most common"),
        ("qwertyuiop", "most common"),
        # A common word with digits or marks at either end is still that word.
        ("Iloveyou2024!", "most common"),
        ("aaaaaaaaaaaa", "different characters"),
        ("adalovelace-rocks", "e-mail address or name"),
        ("x" * 300, "at most"),
        ("123456789012", "not only digits"),
    ],
)
def test_weak_passwords_are_named(password: str, problem: str) -> None:
    found = password_problem(password, email="adalovelace@example.org", name="Ada Lovelace")
    assert found is not None and problem in found


def test_a_good_password_passes_and_a_weak_one_names_the_field() -> None:
    check_new_password("plum-tiger-sextant-41", email="ada@example.org", name="Ada")
    with pytest.raises(FormError) as raised:
        check_new_password("12345678901", email="ada@example.org")
    assert raised.value.field == "password"
