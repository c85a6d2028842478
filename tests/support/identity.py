"""Who is asking, for tests that run the api without a hub.

One convention everywhere: the token ``user:<name>`` is the hub user ``<name>``, and
``as_user(name)`` is the header that sends it. ``AnyUserIdentity`` stands in for the hub (whose
own protocol has end-to-end tests): a name in ``USERS`` is that user as listed there (``root``
is the admin), any other name a plain user (tests that count usage take a ``fresh_user()``);
any other token is refused as the hub refuses an unknown one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from fastapi import Request

from api.auth import HubIdentity, HubUser
from api.errors import NotAuthenticated

TOKEN_PREFIX = "user:"
USERS = {
    "alice": HubUser(name="alice", admin=False),  # tenant acme
    "bob": HubUser(name="bob", admin=False),  # tenant acme
    "carol": HubUser(name="carol", admin=False),  # tenant globex
    "dave": HubUser(name="dave", admin=False),  # no tenant
    "root": HubUser(name="root", admin=True, roles=["admin", "user"]),
}


def token_for(name: str) -> str:
    """The token that ``AnyUserIdentity`` resolves to the user ``name``."""
    return f"{TOKEN_PREFIX}{name}"


def as_user(name: str) -> dict[str, str]:
    """The request headers of the user ``name``."""
    return {"Authorization": f"token {token_for(name)}"}


def fresh_user(prefix: str = "u") -> str:
    """A name no test used before, so the user's usage counts start at zero."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class AnyUserIdentity(HubIdentity):
    """Stands in for the hub: ``user:<name>`` is that user (see the module's docstring)."""

    def __init__(self, users: Mapping[str, HubUser] = USERS) -> None:
        super().__init__()
        self.users = users

    async def user_for_request(self, request: Request) -> HubUser:
        token = self.token_from_request(request)
        if token is None or not token.startswith(TOKEN_PREFIX):
            raise NotAuthenticated("unknown test token")
        name = token.removeprefix(TOKEN_PREFIX)
        return self.users.get(name) or HubUser(name=name, admin=False)
