"""Which authenticator signs people in, and its settings.

Each supported authenticator has one ``configure_*`` function; ``apply_auth`` picks one by
``Settings.authenticator``. Another (OAuth, OIDC, several at once) slots in as one more
function here, without touching the rest of the hub config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.core.config import Settings

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


CONFIGURATORS: dict[str, Callable[[Settings, Any], None]] = {"native": configure_native}


def apply_auth(settings: Settings, c: Any) -> None:
    CONFIGURATORS[settings.authenticator](settings, c)
    c.Authenticator.admin_users = set(settings.admin_users)
