"""Tamper-proof, expiring values for cookies and credentials (itsdangerous, HMAC-SHA256).

``purpose`` keeps values apart: a value signed for one purpose is refused for another,
even under the same key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer


class BadSignature(Exception):
    """The value was altered, signed with another key or purpose, or has expired."""


def _serializer(key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        key, salt=purpose, signer_kwargs={"digest_method": hashlib.sha256}
    )


def sign(value: dict[str, Any], key: str, *, purpose: str) -> str:
    return _serializer(key, purpose).dumps(value)


def unsign(token: str, key: str, *, purpose: str, max_age_seconds: int) -> dict[str, Any]:
    try:
        value = _serializer(key, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise BadSignature("expired") from exc
    except BadData as exc:
        raise BadSignature("altered, malformed, or signed for something else") from exc
    if not isinstance(value, dict):
        raise BadSignature("unexpected payload")
    return value
