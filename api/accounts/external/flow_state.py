"""The state of one sign-in at a provider, kept in a signed, short-lived cookie of the browser
that started it.

The cookie holds the ``state`` sent to the provider, the PKCE verifier, the OpenID Connect
nonce, where to go afterwards, and (when linking) the account that asked. The callback
accepts an answer only if its ``state`` is this browser's: an answer carried to another
browser (a forged callback link, login CSRF) finds no matching cookie and is refused. The
cookie's path is the outside sign-in pages only, and it is removed once the callback ran.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass

from fastapi import Request, Response

from api.accounts.external.identity import OutsideSignInFailed
from api.core.config import Settings
from api.core.names import API_PREFIX
from api.signing import BadSignature, sign, unsign

FLOW_COOKIE = "datazentr-outside-sign-in"
FLOW_PATH = f"{API_PREFIX}accounts/external/"
# Time to sign in at the provider (and, at some, to create an account there).
FLOW_MAX_AGE_SECONDS = 15 * 60
_PURPOSE = "outside-sign-in"

STATE_MISMATCH = (
    "This answer from {provider} does not belong to a sign-in started in this browser, or "
    "the sign-in took too long. Start again from the sign-in page."
)


@dataclass(frozen=True)
class FlowState:
    provider: str
    state: str
    code_verifier: str
    nonce: str
    next_url: str
    # The signed-in account that asked to link this provider, or "" for a sign-in.
    link_account: str = ""

    @classmethod
    def new(cls, provider: str, next_url: str, link_account: str = "") -> FlowState:
        return cls(
            provider=provider,
            state=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(24),
            next_url=next_url,
            link_account=link_account,
        )


def remember(request: Request, response: Response, settings: Settings, flow: FlowState) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        sign(asdict(flow), settings.api_secret_key(), purpose=_PURPOSE),
        max_age=FLOW_MAX_AGE_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        # Lax: the provider's redirect back is a top-level navigation, which carries it.
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def recall(
    request: Request, settings: Settings, *, provider: str, display_name: str, state: str
) -> FlowState:
    """This browser's sign-in at ``provider`` whose state is ``state``; else
    ``OutsideSignInFailed("state")``."""
    refused = OutsideSignInFailed("state", STATE_MISMATCH.format(provider=display_name))
    cookie = request.cookies.get(FLOW_COOKIE)
    if not cookie or not state:
        raise refused
    try:
        value = unsign(
            cookie,
            settings.api_secret_key(),
            purpose=_PURPOSE,
            max_age_seconds=FLOW_MAX_AGE_SECONDS,
        )
        flow = FlowState(**{key: str(value[key]) for key in FlowState.__dataclass_fields__})
    except (BadSignature, KeyError):
        raise refused from None
    if flow.provider != provider or not hmac.compare_digest(flow.state, state):
        raise refused
    return flow


def forget(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
