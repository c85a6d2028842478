"""Settings cross process boundaries as environment variables (hub → services → kernels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from api.core.config import SECRET_FIELDS, Settings, environment_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A value for every field, none of them the default: a field without one fails the first
# test, so a new setting cannot be forgotten on the way into child processes.
NON_DEFAULT_VALUES: dict[str, Any] = {
    "database_url": "postgresql://app:s3cret@db.internal:5432/platform",
    "database_app_url": "postgresql://app_rls:s3cret@db.internal:5432/platform",
    "database_app_role": "platform_api",
    "hub_ip": "0.0.0.0",
    "hub_port": 8100,
    "hub_api_port": 8181,
    "proxy_api_port": 8101,
    "api_port": 8190,
    "server_api_url": "http://proxy-public/services/api",
    "admin_users": frozenset({"ada", "bob"}),
    "open_signup": False,
    "sso_allow_private_issuers": True,
    "authenticator": "native",
    "public_url": "https://lab.example.edu/",
    "product_name": "Example Lab",
    "smtp_host": "smtp.example.edu",
    "smtp_port": 465,
    "smtp_security": "tls",
    "smtp_username": "lab-mailer",
    "smtp_password": "p" * 20,
    "mail_from": "Example Lab <lab@example.edu>",
    "signup_email_domains": frozenset({"example.edu", "example.org"}),
    "academic_email_domains": frozenset({"example.edu"}),
    "github_client_id": "Iv1.0123456789abcdef",
    "github_client_secret": "g" * 40,
    "github_url": "https://github.example.edu",
    "github_api_url": "https://github.example.edu/api/v3",
    "google_client_id": "1234-abc.apps.googleusercontent.com",
    "google_client_secret": "G" * 35,
    "google_issuer": "http://127.0.0.1:9999",
    "oidc_providers": [
        {
            "name": "campus",
            "display_name": "Campus SSO",
            "issuer": "https://sso.example.edu/realms/lab",
            "client_id": "datazentr",
            "client_secret": "c" * 32,
            "scopes": ["openid", "email"],
        }
    ],
    "spawner": "docker",
    "docker_network": "datazentr",
    "docker_pause_minutes": 3,
    "docker_hub_connect_ip": "10.1.2.3",
    "singleuser_image": "example/lab:1",
    "organisation_images": ["example/lab:1", "registry.example.edu/lab/gpu:2"],
    "extra_hub_config": Path("/etc/datazentr/extra.py"),
    "quota_check_seconds": 7,
    "quota_warn_minutes": 4,
    "cull_idle_seconds": 900,
    "cull_every_seconds": 30,
    "embedder": "openai",
    "embeddings_url": "http://127.0.0.1:11434/v1",
    "embeddings_model": "mini-384",
    "embeddings_api_key": "e" * 40,
    "llm_base_url": "http://127.0.0.1:11434/v1",
    "llm_model": "coder-0.5b",
    "llm_api_key": "l" * 40,
    "llm_timeout_seconds": 12.5,
    "generation_token_budget": 1234,
    "generation_sandbox": "bubblewrap",
    "generation_sandbox_image": "example/sandbox:1",
    "log_level": "DEBUG",
    "secret_key": "s" * 40,
    "proxy_command": "/opt/chp/bin/configurable-http-proxy",
    "dashboards_port": 8192,
    "dashboards_pool_size": 1,
    "dashboards_credential_minutes": 30,
    "dashboards_hourly_rate": 60.5,
    "dashboards_currency": "EUR",
    "stripe_secret_key": "sk_test_" + "k" * 24,
    "stripe_publishable_key": "pk_test_" + "p" * 24,
    "stripe_webhook_secret": "whsec_" + "w" * 32,
    "stripe_webhook_secret_previous": "whsec_" + "o" * 32,
    "stripe_api_base": "http://127.0.0.1:12111",
    "billing_success_url": "https://code.example.edu/thanks",
    "billing_cancel_url": "https://code.example.edu/pricing",
    "billing_currency": "eur",
    "billing_grace_days": 3,
}


# Prints the child's settings as JSON, secrets in clear (pydantic would mask them).
ECHO_SETTINGS = """
import json
from pydantic import SecretStr
from api.core.config import Settings
values = Settings(_env_file=None).model_dump(mode="python")
print(json.dumps(
    {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in values.items()},
    default=lambda v: sorted(v) if isinstance(v, frozenset)
    else v.get_secret_value() if isinstance(v, SecretStr) else str(v),
))
"""


def settings_in(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **NON_DEFAULT_VALUES)


def comparable(settings: Settings) -> dict[str, Any]:
    values = settings.model_dump()
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in values.items()
    }


def test_the_test_values_cover_every_field_and_differ_from_the_defaults() -> None:
    fields = set(Settings.model_fields) - {"data_dir"}
    assert set(NON_DEFAULT_VALUES) == fields, "give the new setting a non-default test value"
    defaults = Settings.model_construct()
    for name, value in NON_DEFAULT_VALUES.items():
        default = getattr(defaults, name)
        assert value != default, name


def test_every_field_survives_the_trip_into_a_child_process_and_back(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DATAZENTR_") and key != "DATABASE_URL"
    }
    env |= settings.child_environment()
    # The child reads its settings from the environment alone: no .env in its cwd.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            ECHO_SETTINGS,
        ],
        env=env | {"PYTHONPATH": str(PROJECT_ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    echoed = Settings(_env_file=None, **json.loads(child.stdout))
    assert comparable(echoed) == comparable(settings)


def test_children_without_secrets_get_everything_else(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    full = settings.child_environment()
    public = settings.child_environment(with_secrets=False)
    hidden = {environment_name(name) for name in SECRET_FIELDS}
    assert set(full) - set(public) == hidden
    assert not any("s3cret" in value or "l" * 40 in value for value in public.values())


def test_every_secret_typed_field_is_on_the_secret_list() -> None:
    secret_typed = {
        name
        for name, field in Settings.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))
    }
    assert secret_typed, "the settings have secret fields"
    assert secret_typed <= SECRET_FIELDS


def test_unset_optional_fields_are_left_out(tmp_path: Path) -> None:
    env = Settings(_env_file=None, data_dir=tmp_path).child_environment()
    assert "DATAZENTR_DATABASE_URL" not in env
    assert "DATAZENTR_LLM_API_KEY" not in env
    assert env["DATAZENTR_DATA_DIR"] == str(tmp_path)
    assert env["DATAZENTR_OPEN_SIGNUP"] == "true"
