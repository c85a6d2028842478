import pytest

from api import signing
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
    _payload, mac = sign({"next": "/services/api/me"}, KEY, purpose="p").split(".")
    forged = signing._b64(b'{"v":{"next":"https://evil.example"},"t":9999999999}')
    with pytest.raises(BadSignature):
        unsign(f"{forged}.{mac}", KEY, purpose="p", max_age_seconds=60)
    with pytest.raises(BadSignature):
        unsign("garbage", KEY, purpose="p", max_age_seconds=60)


def test_expired_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign({"a": 1}, KEY, purpose="p")
    now = signing.time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 601)
    with pytest.raises(BadSignature, match="expired"):
        unsign(token, KEY, purpose="p", max_age_seconds=600)
