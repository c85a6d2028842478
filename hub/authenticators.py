"""Which authenticator signs people in, and its settings.

Each supported authenticator has one ``configure_*`` function; ``apply_auth`` picks one by
``Settings.authenticator``. Another (OAuth, OIDC, several at once) slots in as one more
function here, without touching the rest of the hub config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.core.config import Settings
from api.core.names import API_PREFIX
from api.core.secrets import load_or_create_secret
from api.identity.hub_client import (
    HUB_CLIENT_ID,
    HUB_SCOPES,
    PLATFORM_ADMINS_GROUP,
    check_issuer,
    hub_client_secret,
    hub_redirect_uri,
    internal_api_url,
)

# Local accounts: long enough passwords, no well-known ones, a pause after repeated failures.
MINIMUM_PASSWORD_LENGTH = 8
ALLOWED_FAILED_LOGINS = 5
SECONDS_BEFORE_NEXT_TRY = 300


def configure_native(settings: Settings, c: Any) -> None:
    """Local accounts with self-service signup (jupyterhub-nativeauthenticator)."""
    c.JupyterHub.authenticator_class = "hub.native_auth.PlatformNativeAuthenticator"
    native = c.NativeAuthenticator
    native.enable_signup = True
    # open_signup: new accounts may log in at once; otherwise an admin approves them.
    native.open_signup = settings.open_signup
    native.minimum_password_length = MINIMUM_PASSWORD_LENGTH
    native.check_common_password = True
    # These two are only metadata defaults upstream: they must be set to take effect.
    native.allowed_failed_logins = ALLOWED_FAILED_LOGINS
    native.seconds_before_next_try = SECONDS_BEFORE_NEXT_TRY
    # NativeAuthenticator's own approval step decides who may log in.
    c.Authenticator.allow_all = True


def configure_platform(settings: Settings, c: Any) -> None:
    """The api is the identity broker: the hub's login page goes straight to the platform's
    sign-in (auto_login), and the hub learns who signed in over OpenID Connect."""
    check_issuer(settings)
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    oauth = c.GenericOAuthenticator
    oauth.login_service = settings.product_name
    oauth.client_id = HUB_CLIENT_ID
    oauth.client_secret = hub_client_secret(settings)
    oauth.oauth_callback_url = hub_redirect_uri(settings)
    # The browser goes to the public address; the hub itself calls the api on loopback.
    oauth.authorize_url = f"{settings.public_base_url}{API_PREFIX.lstrip('/')}oauth2/authorize"
    oauth.token_url = f"{internal_api_url(settings)}/oauth2/token"
    oauth.userdata_url = f"{internal_api_url(settings)}/oauth2/userinfo"
    oauth.scope = list(HUB_SCOPES)
    oauth.username_claim = "preferred_username"
    oauth.enable_pkce = True
    # client_secret_post: the provider accepts it for codes and refreshes alike.
    oauth.basic_auth = False
    # Every account the platform signs in may use the hub; the platform decides who has one.
    oauth.allow_all = True
    # The hub's groups follow the account's (its role), and platform admins are hub admins.
    oauth.manage_groups = True
    oauth.auth_state_groups_key = "oauth_user.groups"
    oauth.admin_groups = {PLATFORM_ADMINS_GROUP}
    # Signing out of the hub signs the browser out of the platform too.
    oauth.logout_redirect_url = f"{settings.public_base_url}{API_PREFIX.lstrip('/')}oauth2/logout"
    c.Authenticator.auto_login = True
    # auth_state keeps the tokens, so the hub can refresh who a person is before a spawn.
    c.Authenticator.enable_auth_state = True
    c.CryptKeeper.keys = [load_or_create_secret(settings.secrets_dir / "jupyterhub_crypt_key")]


CONFIGURATORS: dict[str, Callable[[Settings, Any], None]] = {
    "native": configure_native,
    "platform": configure_platform,
}


def apply_auth(settings: Settings, c: Any) -> None:
    CONFIGURATORS[settings.authenticator](settings, c)
    if settings.authenticator == "native":
        c.Authenticator.admin_users = set(settings.admin_users)
    # With the platform's sign-in the platform decides who is an admin (api/accounts/roles.py:
    # a listed address counts once verified) and says so by the platform-admins group.
