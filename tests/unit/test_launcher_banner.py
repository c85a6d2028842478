"""What ``make up`` prints once the platform is ready: where to sign up, where mail goes."""

from __future__ import annotations

from pathlib import Path

from api.core.config import Settings
from hub.launcher import _banner


def test_without_smtp_the_banner_names_the_outbox(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, authenticator="platform")
    banner = _banner(settings, 1.0)
    assert f"mails are written to {tmp_path / 'outbox'}" in banner
    assert "services/api/accounts/sign-up" in banner
    assert "hub/signup" not in banner  # NativeAuthenticator's page is not there


def test_with_the_platform_sign_in_admins_sign_up_on_its_page(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, authenticator="platform", admin_users="ada"
    )
    banner = _banner(settings, 1.0)
    assert "Admins: ada. An admin signs up at" in banner
    assert "hub/signup" not in banner


def test_with_smtp_the_banner_names_the_server(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, smtp_host="mail.example", smtp_port=25)
    banner = _banner(settings, 1.0)
    assert "sent via mail.example:25" in banner


def test_with_native_accounts_people_sign_up_on_the_hub(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, authenticator="native")
    banner = _banner(settings, 1.0)
    assert "hub/signup" in banner and "accounts/sign-up" not in banner
