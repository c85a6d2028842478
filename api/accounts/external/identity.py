"""What an outside provider told us about a person, and what can go wrong on the way."""

from __future__ import annotations

from dataclasses import dataclass

from api.accounts.errors import AccountError


@dataclass(frozen=True)
class OutsideIdentity:
    """A person as a provider proved them: ``subject`` is the provider's stable id for them
    (GitHub's numeric user id, an OpenID Connect ``sub``). ``email_verified`` is True only
    when the provider says so in as many words."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    # A name to show for the identity (GitHub login, or the address).
    label: str


class OutsideSignInFailed(AccountError):
    """Signing in (or linking) with a provider did not work; ``reason`` says why: ``denied``
    at the provider, ``state`` (the answer belongs to no sign-in of this browser, or it is
    old), ``unavailable`` (the provider is unreachable or answered nonsense), ``refused``
    (the code or the ID token did not check out), ``unknown_provider``, ``taken`` (the
    identity is another account's), ``no_email``, ``domain`` (sign-up is for other
    addresses), ``unknown_identity`` or ``last_way_in`` (unlinking)."""

    status = 400
    code = "outside_sign_in_failed"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        if reason == "unavailable":
            self.status = 502
        elif reason == "unknown_provider":
            self.status = 404
