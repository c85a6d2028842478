"""The hub as the provider's client: its id, secret, addresses, and the issuer they hang
on. Shared by the hub config and the api; the hub config loads it, so it stays small."""

from __future__ import annotations

from authlib.common.security import is_secure_transport

from api.core.config import ConfigError, Settings
from api.core.names import API_PREFIX
from api.core.secrets import load_or_create_secret

HUB_CLIENT_ID = "jupyterhub"
# What the hub asks for; "groups" is the platform's own scope (hub groups, admin rights).
HUB_SCOPES = ("openid", "profile", "email", "groups")
# Members are the hub's admins (their role is platform_admin).
PLATFORM_ADMINS_GROUP = "platform-admins"


def issuer(settings: Settings) -> str:
    """The provider's issuer: the api's public address, without a trailing slash."""
    return settings.public_base_url + API_PREFIX.strip("/")


def hub_client_secret(settings: Settings) -> str:
    """The hub's client secret, generated once into the data dir's secrets."""
    return load_or_create_secret(settings.secrets_dir / "hub_oidc_client_secret")


def hub_redirect_uri(settings: Settings) -> str:
    """Where the provider sends the browser back to the hub with a code."""
    return f"{settings.public_base_url}hub/oauth_callback"


def internal_api_url(settings: Settings) -> str:
    """The api as the hub reaches it on this machine (tokens and userinfo, no proxy)."""
    return f"http://127.0.0.1:{settings.api_port}{API_PREFIX.rstrip('/')}"


def check_issuer(settings: Settings) -> str:
    """The issuer, if clients may trust it: https, or plain http on this machine only."""
    value = issuer(settings)
    if not is_secure_transport(value):
        raise ConfigError(
            f"The platform signs people in at {value}, which is plain http on another "
            "machine's address; browsers and the hub would send passwords and tokens "
            "unencrypted. Set DATAZENTR_PUBLIC_URL to the https:// address people use "
            "(behind a TLS proxy), or use the platform on http://127.0.0.1 only."
        )
    return value
