"""Short-lived credentials that let a dashboard's kernel read its visitor's data.

The dashboards service authenticates each visitor through the hub (OAuth), then hands the
kernel rendering that visitor's page a credential: the visitor's hub name, signed with a
key only the dashboards service and the api share, valid for a limited time. The kernel
sends it to the api in ``X-Datazentr-Dashboard-Credential``; the api resolves it to that
user with plain user rights (never admin). Nothing a visitor sends can choose the name:
the service sets the credential itself, after the hub said who is visiting.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from api.auth import HubIdentity, HubUser
from api.core.names import DASHBOARD_CREDENTIAL_HEADER as HEADER
from api.errors import NotAuthenticated
from api.signing import BadSignature, sign, unsign

PURPOSE = "dashboard-credential"


def mint(user_name: str, key: str) -> str:
    return sign({"user": user_name, "aud": "api"}, key, purpose=PURPOSE)


def verify(credential: str, key: str, *, max_age_seconds: int) -> str:
    """The user name a credential stands for; ``BadSignature`` when altered or expired."""
    value = unsign(credential, key, purpose=PURPOSE, max_age_seconds=max_age_seconds)
    name = value.get("user")
    if value.get("aud") != "api" or not isinstance(name, str) or not name:
        raise BadSignature("not a dashboard credential")
    return name


class DashboardCredentialIdentity(HubIdentity):
    """Accepts dashboard credentials; everything else goes to the hub as before."""

    def __init__(self, inner: HubIdentity, key: Callable[[], str], *, max_age_seconds: int) -> None:
        # No super().__init__(): the inner identity already talks to the hub.
        self.inner = inner
        self.hub_auth = inner.hub_auth
        self._key_source = key
        self._key: str | None = None
        self.max_age_seconds = max_age_seconds

    def key(self) -> str:
        if self._key is None:
            self._key = self._key_source()
        return self._key

    def token_from_request(self, request: Request) -> str | None:
        return self.inner.token_from_request(request)

    async def user_for_request(self, request: Request) -> HubUser:
        credential = request.headers.get(HEADER)
        if credential is None:
            return await self.inner.user_for_request(request)
        try:
            name = verify(credential, self.key(), max_age_seconds=self.max_age_seconds)
        except BadSignature:
            raise NotAuthenticated(
                "This dashboard's session has expired or is not valid: reload the page."
            ) from None
        return HubUser(name=name, admin=False, roles=["user"])
