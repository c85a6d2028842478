"""Tamper-proof, expiring values for cookies (HMAC-SHA256 over JSON)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


class BadSignature(Exception):
    """The value was altered, signed with another key, or has expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(value: dict[str, Any], key: str, *, purpose: str) -> str:
    payload = _b64(json.dumps({"v": value, "t": int(time.time())}, separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), f"{purpose}.{payload}".encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def unsign(token: str, key: str, *, purpose: str, max_age_seconds: int) -> dict[str, Any]:
    try:
        payload, mac = token.rsplit(".", 1)
        expected = hmac.new(key.encode(), f"{purpose}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise BadSignature("signature does not match")
        data = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BadSignature("malformed signed value") from exc
    if time.time() - int(data["t"]) > max_age_seconds:
        raise BadSignature("expired")
    value = data["v"]
    if not isinstance(value, dict):
        raise BadSignature("unexpected payload")
    return value
