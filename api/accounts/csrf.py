"""Form tokens against cross-site requests (signed double submit).

Each browser gets a random value in ``CSRF_COOKIE`` (HttpOnly, this site only); every form
carries ``HMAC(secret key, that value)`` in the ``csrf_token`` field. Another site can make
a browser send the cookie, but cannot read it or compute the token, so a forged form is
refused. Works before sign-in too (sign-up, sign-in, reset forms).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from api.accounts.errors import CsrfRefused
from api.core.config import Settings
from api.core.names import API_PREFIX

CSRF_COOKIE = "datazentr-csrf"
CSRF_FIELD = "csrf_token"
_COOKIE_MAX_AGE_SECONDS = 7 * 24 * 3600


def _token_for(settings: Settings, cookie_value: str) -> str:
    key = settings.api_secret_key().encode()
    return hmac.new(key, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


class FormToken:
    """The token for this request's forms; ``apply`` sets the cookie if it is new."""

    def __init__(self, request: Request, settings: Settings) -> None:
        existing = request.cookies.get(CSRF_COOKIE)
        self.new_cookie = None if existing and len(existing) <= 100 else secrets.token_urlsafe(32)
        self.cookie_value = self.new_cookie or existing or ""
        self.value = _token_for(settings, self.cookie_value)
        self.secure = request.url.scheme == "https"

    def apply(self, response: Response) -> None:
        if self.new_cookie:
            response.set_cookie(
                CSRF_COOKIE,
                self.new_cookie,
                max_age=_COOKIE_MAX_AGE_SECONDS,
                path=API_PREFIX,
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )


def check_form_token(request: Request, settings: Settings, submitted: str | None) -> None:
    """Raise ``CsrfRefused`` unless ``submitted`` is this browser's form token."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or len(submitted) > 200:
        raise CsrfRefused(_REFUSAL)
    if not hmac.compare_digest(_token_for(settings, cookie), submitted):
        raise CsrfRefused(_REFUSAL)


_REFUSAL = (
    "This form was sent without its security token: it may be old, or it was sent from "
    "another site. Reload the page and send it again."
)
