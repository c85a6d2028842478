"""What can go wrong in the account flows, each with a message a person can act on.

The flows raise these; the account pages show the message on the page (the form again, or a
page of its own). They are ``ApiError``s, so one that reaches the JSON handlers still gets a
clear 4xx answer instead of a 500.
"""

from __future__ import annotations

from datetime import datetime

from api.errors import ApiError


class AccountError(ApiError):
    status = 400
    code = "account_error"


class FormError(AccountError):
    """A field of a form cannot be used; ``field`` names it."""

    status = 422
    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, fields=[{"field": field, "message": message}])
        self.field = field


class SignInFailed(AccountError):
    """Wrong e-mail or password; one message for both, so it tells nobody which."""

    status = 401
    code = "sign_in_failed"


class RateLimited(AccountError):
    """Too many tries; ``retry_at`` says when the next one is allowed."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class LinkProblem(AccountError):
    """A mailed link that cannot be used: ``reason`` is unknown, used or expired."""

    status = 400
    code = "link_invalid"

    def __init__(self, reason: str, purpose: str) -> None:
        messages = {
            "unknown": "This link is not valid. It may have been cut off or mistyped.",
            "used": "This link has already been used. Each link works once.",
            "expired": "This link has expired.",
        }
        super().__init__(messages[reason])
        self.reason = reason
        self.purpose = purpose


class SignUpClosed(AccountError):
    status = 403
    code = "sign_up_closed"


class CsrfRefused(AccountError):
    """A form sent without this browser's form token (another site, or an old page)."""

    status = 403
    code = "csrf_refused"


class MailUnavailable(AccountError):
    """The mail server refused or could not be reached."""

    status = 503
    code = "mail_unavailable"
