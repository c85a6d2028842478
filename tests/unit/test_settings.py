import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.core.config import ConfigError, Settings, to_sqlalchemy_url
from api.core.secrets import load_or_create_secret


def make(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)


def test_defaults_use_embedded_postgres_on_a_private_socket(tmp_path: Path) -> None:
    settings = make(tmp_path)
    assert settings.uses_embedded_postgres
    assert settings.sqlalchemy_url == (
        f"postgresql+psycopg://postgres@/datazentr?host={tmp_path / 'run'}"
    )
    assert settings.hub_url == "http://127.0.0.1:8000/"


def test_long_data_dir_moves_the_socket_to_a_short_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 90)
    settings = make(deep)
    assert len(str(settings.postgres_socket_dir)) < 80
    assert settings.postgres_socket_dir == make(deep).postgres_socket_dir


def test_database_url_env_switches_to_external_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://app:s3cret@db.internal:5432/platform")
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert not settings.uses_embedded_postgres
    assert settings.sqlalchemy_url == "postgresql+psycopg://app:s3cret@db.internal:5432/platform"
    assert settings.child_environment()["DATAZENTR_DATABASE_URL"].startswith("postgres://")


def test_non_postgres_database_url_is_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="must be a PostgreSQL URL"):
        to_sqlalchemy_url("mysql://root@localhost/db")


def test_env_file_in_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DATAZENTR_HUB_PORT=8123\nDATAZENTR_ADMIN_USERS=ada, bob\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.hub_port == 8123
    assert settings.admin_users == frozenset({"ada", "bob"})


@pytest.mark.parametrize("placeholder", ["changeme", "secret", "CHANGE_ME", "short-but-real"])
def test_placeholder_or_short_secret_is_refused(tmp_path: Path, placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder or shorter"):
        make(tmp_path, secret_key=placeholder)


def test_secret_is_generated_once_private_and_stable(tmp_path: Path) -> None:
    settings = make(tmp_path)
    first = settings.api_secret_key()
    path = tmp_path / "secrets" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64
    assert make(tmp_path).api_secret_key() == first


def test_a_placeholder_written_into_the_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("changeme\n")
    with pytest.raises(ValueError, match="placeholder"):
        load_or_create_secret(path)


def test_configured_secret_wins_over_the_generated_one(tmp_path: Path) -> None:
    key = "k" * 40
    assert make(tmp_path, secret_key=key).api_secret_key() == key
    assert not (tmp_path / "secrets" / "secret_key").exists()
