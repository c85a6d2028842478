"""What the provider says about an account: the id_token's and userinfo's claims."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core import UserInfo

from api.identity.hub_client import PLATFORM_ADMINS_GROUP
from api.models.account import Account

# Each role is a hub group, so the hub (and what it starts) can tell people apart.
ROLE_GROUPS = {
    "student": "students",
    "developer": "developers",
    "org_admin": "org-admins",
    "platform_admin": PLATFORM_ADMINS_GROUP,
}


def groups_of(account: Account) -> list[str]:
    return sorted({ROLE_GROUPS[account.role]} if account.role in ROLE_GROUPS else set())


def account_claims(account: Account, scope: str) -> dict[str, Any]:
    """The standard claims the granted ``scope`` allows, plus ``groups`` for its scope."""
    info = UserInfo(
        sub=str(account.id),
        name=account.display_name or account.username,
        preferred_username=account.username,
        email=account.email,
        email_verified=account.email_verified_at is not None,
    ).filter(scope)
    claims: dict[str, Any] = dict(info)
    # UserInfo.filter keeps only standard claims; groups is the platform's own scope.
    if "groups" in scope_to_list(scope):
        claims["groups"] = groups_of(account)
    return claims
