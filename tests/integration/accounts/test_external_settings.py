"""The operator's outside providers: offered only when configured, and a bad configuration
stops the platform at start with the setting's name and what is wrong."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from api.accounts.external.providers import callback_url, configured_providers
from api.core.config import Settings
from hub import launcher

CAMPUS = {
    "name": "campus",
    "display_name": "Campus SSO",
    "issuer": "https://sso.example.edu/realms/lab/",
    "client_id": "datazentr",
    "client_secret": "campus-secret",
}


def test_only_configured_providers_are_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_providers(Settings(_env_file=None)) == {}
    monkeypatch.setenv("DATAZENTR_GITHUB_CLIENT_ID", "Iv1.abc")
    monkeypatch.setenv("DATAZENTR_GITHUB_CLIENT_SECRET", "gh-secret")
    monkeypatch.setenv("DATAZENTR_OIDC_PROVIDERS", json.dumps([CAMPUS]))
    monkeypatch.setenv("DATAZENTR_PUBLIC_URL", "https://lab.example.edu/")
    settings = Settings(_env_file=None)
    providers = configured_providers(settings)
    assert list(providers) == ["github", "campus"]
    campus = providers["campus"]
    assert campus.issuer == "https://sso.example.edu/realms/lab"
    assert campus.discovery_url == (
        "https://sso.example.edu/realms/lab/.well-known/openid-configuration"
    )
    assert campus.scopes == ("openid", "email", "profile")
    assert providers["github"].web_url == "https://github.com"
    assert callback_url(settings, providers["github"]) == (
        "https://lab.example.edu/services/api/accounts/external/github/callback"
    )
    # Secrets stay out of the settings' printed form.
    assert "gh-secret" not in repr(settings) and "campus-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "field", "words"),
    [
        ({"DATAZENTR_OIDC_PROVIDERS": "[{name: campus}]"}, "oidc_providers", "not valid JSON"),
        ({"DATAZENTR_OIDC_PROVIDERS": json.dumps(CAMPUS)}, "oidc_providers", "JSON list"),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([{**CAMPUS, "issuer": "http://sso.lan"}])},
            "oidc_providers",
            "plain http on another machine",
        ),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([{**CAMPUS, "name": "github"}])},
            "oidc_providers",
            "DATAZENTR_GITHUB_CLIENT_ID",
        ),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([{**CAMPUS, "name": "Campus SSO"}])},
            "oidc_providers",
            "a-z, 0-9",
        ),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([{**CAMPUS, "scopes": ["email"]}])},
            "oidc_providers",
            "include openid",
        ),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([CAMPUS, CAMPUS])},
            "oidc_providers",
            "repeated: campus",
        ),
        (
            {"DATAZENTR_OIDC_PROVIDERS": json.dumps([{**CAMPUS, "client_secret": None}])},
            "oidc_providers",
            "client_secret",
        ),
        ({"DATAZENTR_GITHUB_CLIENT_ID": "Iv1.abc"}, "github_client_secret", "CLIENT_SECRET too"),
        ({"DATAZENTR_GOOGLE_CLIENT_SECRET": "x"}, "google_client_secret", "CLIENT_ID too"),
        ({"DATAZENTR_GITHUB_URL": "ftp://github.example"}, "github_url", "not an https://"),
    ],
)
def test_a_bad_provider_configuration_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], field: str, words: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    [error] = raised.value.errors()
    assert error["loc"][0] == field
    assert words in error["msg"] or words in str(error["loc"])


def test_the_launcher_refuses_to_start_and_says_which_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(
        "DATAZENTR_OIDC_PROVIDERS", json.dumps([{**CAMPUS, "issuer": "http://sso.lan"}])
    )

    def never(settings: Settings) -> int:
        raise AssertionError("the platform started with a bad provider configuration")

    monkeypatch.setattr(launcher, "up", never)
    with caplog.at_level(logging.ERROR, logger=launcher.__name__):
        assert launcher.main(["up"]) == 2
    [message] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert message.startswith("setting DATAZENTR_OIDC_PROVIDERS")
    assert "plain http on another machine" in message
