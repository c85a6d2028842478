import base64
import json
import time

import pytest

from api.signing import BadSignature, sign, unsign

KEY = "x" * 64


def test_round_trip() -> None:
    token = sign({"state": "abc", "next": "/services/api/me"}, KEY, purpose="p")
    assert unsign(token, KEY, purpose="p", max_age_seconds=60) == {
        "state": "abc",
        "next": "/services/api/me",
    }


@pytest.mark.parametrize(("key", "purpose"), [("y" * 64, "p"), (KEY, "other-purpose")])
def test_other_key_or_purpose_is_refused(key: str, purpose: str) -> None:
    token = sign({"a": 1}, KEY, purpose="p")
    with pytest.raises(BadSignature):
        unsign(token, key, purpose=purpose, max_age_seconds=60)


def test_tampered_payload_is_refused() -> None:
    _payload, stamp, mac = sign({"next": "/services/api/me"}, KEY, purpose="p").split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"next": "https://evil.example"}).encode())
    with pytest.raises(BadSignature):
        unsign(f"{forged.decode().rstrip('=')}.{stamp}.{mac}", KEY, purpose="p", max_age_seconds=60)
    with pytest.raises(BadSignature):
        unsign("garbage", KEY, purpose="p", max_age_seconds=60)


def test_expired_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign({"a": 1}, KEY, purpose="p")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 601)
    with pytest.raises(BadSignature, match="expired"):
        unsign(token, KEY, purpose="p", max_age_seconds=600)
