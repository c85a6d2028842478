"""With DATAZENTR_AUTHENTICATOR=platform the hub signs people in through the api's OpenID
Connect provider: the configuration, and what GenericOAuthenticator makes of it."""

from pathlib import Path
from typing import Any

import pytest
from oauthenticator.generic import GenericOAuthenticator
from traitlets.config import Config

from api.core.config import ConfigError, Settings
from api.identity.hub_client import hub_client_secret
from hub import config as hub_config


def platform_config(tmp_path: Path, **values: Any) -> tuple[Settings, Config]:
    settings = Settings(_env_file=None, data_dir=tmp_path, authenticator="platform", **values)
    c = Config()
    hub_config.apply_all(settings, c)
    return settings, c


def test_the_hub_goes_straight_to_the_platform_sign_in(tmp_path: Path) -> None:
    settings, c = platform_config(tmp_path, public_url="https://dz.example.org/", api_port=9001)
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert c.Authenticator.auto_login is True
    oauth = c.GenericOAuthenticator
    assert oauth.client_id == "jupyterhub"
    assert oauth.client_secret == hub_client_secret(settings)
    assert (tmp_path / "secrets" / "hub_oidc_client_secret").exists()
    # The browser uses the public address; the hub calls the api on loopback.
    assert oauth.authorize_url == "https://dz.example.org/services/api/oauth2/authorize"
    assert oauth.oauth_callback_url == "https://dz.example.org/hub/oauth_callback"
    assert oauth.token_url == "http://127.0.0.1:9001/services/api/oauth2/token"
    assert oauth.userdata_url == "http://127.0.0.1:9001/services/api/oauth2/userinfo"
    assert oauth.logout_redirect_url == "https://dz.example.org/services/api/oauth2/logout"
    assert oauth.scope == ["openid", "profile", "email", "groups"]
    assert oauth.username_claim == "preferred_username"
    assert oauth.enable_pkce is True


def test_groups_and_admins_come_from_the_account(tmp_path: Path) -> None:
    _, c = platform_config(tmp_path, admin_users="ada")
    authenticator = GenericOAuthenticator(config=c)
    assert authenticator.manage_groups is True
    assert authenticator.auth_state_groups_key == "oauth_user.groups"
    assert authenticator.admin_groups == {"platform-admins"}
    # The platform decides who is an admin (a listed address counts once verified).
    assert authenticator.admin_users == set()
    assert authenticator.allow_all is True
    assert authenticator.enable_auth_state is True
    assert authenticator.basic_auth is False  # client_secret_post, for codes and refreshes


def test_auth_state_is_encrypted_with_a_key_kept_in_the_data_dir(tmp_path: Path) -> None:
    from jupyterhub.crypto import CryptKeeper

    _, c = platform_config(tmp_path)
    (key,) = CryptKeeper(config=c).keys
    assert len(key) == 32
    _, again = platform_config(tmp_path)
    assert CryptKeeper(config=again).keys == [key]  # the same key after a restart


def test_the_platform_sign_in_is_the_default_and_native_is_a_choice(tmp_path: Path) -> None:
    c = Config()
    hub_config.apply_all(Settings(_env_file=None, data_dir=tmp_path), c)
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    native = Config()
    hub_config.apply_all(
        Settings(_env_file=None, data_dir=tmp_path, authenticator="native"), native
    )
    assert native.JupyterHub.authenticator_class == "hub.native_auth.PlatformNativeAuthenticator"
    assert "GenericOAuthenticator" not in native


def test_plain_http_on_another_machine_is_refused_before_the_hub_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DATAZENTR_PUBLIC_URL to the https://"):
        platform_config(tmp_path, public_url="http://hub.example.org/")
    # On this machine plain http is fine (a developer's laptop, the tests).
    platform_config(tmp_path, public_url="http://127.0.0.1:8000/")
