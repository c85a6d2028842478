"""The hub configuration is data: build it from settings and look at it."""

import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from api.core.config import ConfigError, Settings
from hub import config as hub_config
from hub.spawners import LocalSessionSpawner


def settings_for(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)


def built(settings: Settings) -> Config:
    c = Config()
    hub_config.apply_all(settings, c)
    return c


def test_network_follows_settings(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, hub_port=8123, proxy_api_port=8124, hub_api_port=8125))
    assert (c.JupyterHub.ip, c.JupyterHub.port) == ("127.0.0.1", 8123)
    assert c.JupyterHub.hub_port == 8125
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8124"
    assert c.ConfigurableHTTPProxy.command[0].endswith("node_modules/.bin/configurable-http-proxy")


def test_hub_state_lives_in_the_data_dir(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path))
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    assert Path(c.JupyterHub.cookie_secret_file).parent == tmp_path / "secrets"


def test_api_is_a_managed_service_every_user_may_reach(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, api_port=9001, admin_users="ada"))
    service = c.JupyterHub.services[0]
    assert service["name"] == "api"
    assert service["url"] == "http://127.0.0.1:9001"
    assert service["command"] == [sys.executable, "-m", "api"]
    assert service["environment"]["DATAZENTR_DATA_DIR"] == str(tmp_path)
    assert service["environment"]["DATAZENTR_ADMIN_USERS"] == "ada"
    user_role = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert "access:services!service=api" in user_role["scopes"]
    assert "self" in user_role["scopes"]


def test_the_api_service_may_manage_tokens_and_delete_users_and_nothing_more(
    tmp_path: Path,
) -> None:
    c = built(settings_for(tmp_path))
    roles = [r for r in c.JupyterHub.load_roles if "api" in r.get("services", [])]
    assert [sorted(r["scopes"]) for r in roles] == [["delete:users", "tokens"]]


def test_native_accounts_with_lockout_set_explicitly(tmp_path: Path) -> None:
    c = built(
        settings_for(tmp_path, admin_users="ada,bob", open_signup=False, authenticator="native")
    )
    assert c.JupyterHub.authenticator_class == "hub.native_auth.PlatformNativeAuthenticator"
    assert c.NativeAuthenticator.open_signup is False
    assert c.NativeAuthenticator.seconds_before_next_try > 0
    assert c.NativeAuthenticator.minimum_password_length >= 8
    assert c.Authenticator.admin_users == {"ada", "bob"}


def test_local_spawner_runs_the_platform_singleuser_with_homes_in_data_dir(
    tmp_path: Path,
) -> None:
    c = built(settings_for(tmp_path, spawner="local"))
    assert c.JupyterHub.spawner_class is LocalSessionSpawner
    assert c.Spawner.cmd == [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(tmp_path / "users" / "{username}")


def test_pages_carry_the_product_name_and_the_account_link(tmp_path: Path) -> None:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader

    c = built(settings_for(tmp_path, product_name="Acme Notebooks"))
    (templates,) = c.JupyterHub.template_paths
    assert c.JupyterHub.template_vars["product_name"] == "Acme Notebooks"
    assert c.JupyterHub.template_vars["account_url"] == "/services/api/accounts/settings"
    # Each page's usage notices come from the api, per signed-in person.
    assert callable(c.JupyterHub.template_vars["usage_notices"])
    # The hub's own page template, overridden as JupyterHub loads it (ours, then its own).
    hub_templates = Path(sys.prefix) / "share" / "jupyterhub" / "templates"
    loader = ChoiceLoader(
        [
            FileSystemLoader(templates),
            PrefixLoader({"templates": FileSystemLoader(str(hub_templates))}),
            FileSystemLoader(str(hub_templates)),
        ]
    )
    page = Environment(loader=loader, autoescape=True).get_template("page.html")
    html = page.render(
        c.JupyterHub.template_vars, base_url="/hub/", user=None, static_url=lambda *a, **k: ""
    )
    assert "Acme Notebooks" in html and "JupyterHub logo" not in html
    native = built(settings_for(tmp_path, authenticator="native"))
    assert native.JupyterHub.template_vars["account_url"] == ""


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make up"):
        built(settings_for(tmp_path / "missing"))


def test_jupyterhub_config_file_applies_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Load the real jupyterhub_config.py the way JupyterHub does."""
    from jupyterhub.app import JupyterHub

    from api.core.config import get_settings

    monkeypatch.setenv("DATAZENTR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATAZENTR_HUB_PORT", "8321")
    get_settings.cache_clear()
    try:
        app = JupyterHub()
        app.load_config_file(str(hub_config.PROJECT_ROOT / "jupyterhub_config.py"))
    finally:
        get_settings.cache_clear()
    assert app.config.JupyterHub.port == 8321
    assert app.config.JupyterHub.services[0]["name"] == "api"


def test_hub_logs_json_lines_like_the_api(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, log_level="DEBUG"))
    assert c.JupyterHub.log_level == "DEBUG"
    logging_config = c.JupyterHub.logging_config
    assert logging_config["handlers"]["console"]["formatter"] == "json"
    assert logging_config["formatters"]["json"]["()"].endswith("JsonFormatter")


def test_local_servers_enable_the_platform_extensions(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, spawner="local"))
    config_dir = Path(c.Spawner.environment["JUPYTER_CONFIG_PATH"])
    enabled = config_dir / "jupyter_server_config.d" / "datazentr-workspace_export.json"
    assert "extensions.workspace_export" in enabled.read_text()


def test_docker_mode_runs_only_the_allowed_image_without_privileges(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, spawner="docker", singleuser_image="datazentr/su:1"))
    assert c.JupyterHub.spawner_class.__name__ == "PlatformDockerSpawner"
    docker = c.DockerSpawner
    assert docker.allowed_images == ["datazentr/su:1"]
    assert docker.pull_policy == "never"
    assert docker.remove is True
    assert docker.volumes == {"datazentr-home-{username}{server_suffix}": "/home/jovyan"}
    assert docker.extra_host_config["privileged"] is False
    assert docker.extra_host_config["cap_drop"] == ["ALL"]
    assert docker.extra_host_config["pids_limit"] > 0
    assert docker.network_name == "host"


def test_an_extra_config_file_is_applied_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyterhub.app import JupyterHub

    from api.core.config import get_settings

    extra = tmp_path / "extra_config.py"
    extra.write_text("c.JupyterHub.port = 9999\nc.Spawner.start_timeout = 7\n")
    monkeypatch.setenv("DATAZENTR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATAZENTR_SPAWNER", "local")
    monkeypatch.setenv("DATAZENTR_EXTRA_HUB_CONFIG", str(extra))
    get_settings.cache_clear()
    try:
        app = JupyterHub()
        app.load_config_file(str(hub_config.PROJECT_ROOT / "jupyterhub_config.py"))
    finally:
        get_settings.cache_clear()
    assert app.config.JupyterHub.port == 9999
    assert app.config.Spawner.start_timeout == 7


def test_generation_worker_is_a_managed_service(tmp_path: Path) -> None:
    c = built(settings_for(tmp_path, spawner="local"))
    services = {service["name"]: service for service in c.JupyterHub.services}
    worker = services["generation-worker"]
    assert worker["command"] == [sys.executable, "-m", "api.worker"]
    assert worker["environment"]["DATAZENTR_DATA_DIR"] == str(tmp_path)
    assert "url" not in worker  # not reachable through the proxy


def test_auto_falls_back_to_local_processes_without_a_docker_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    assert hub_config.resolve_spawner(settings_for(tmp_path)) == "local"
    assert hub_config.resolve_spawner(settings_for(tmp_path, spawner="docker")) == "docker"


def test_services_with_a_url_get_as_long_to_start_as_the_platform(tmp_path: Path) -> None:
    """A slow cold start on a busy machine must not make the hub give up on the api."""
    from hub.config import SERVICE_START_TIMEOUT_SECONDS
    from hub.launcher import READY_TIMEOUT_SECONDS

    c = built(settings_for(tmp_path))
    with_url = [service for service in c.JupyterHub.services if "url" in service]
    assert {service["name"] for service in with_url} == {"api", "dashboards"}
    assert all(service["timeout"] >= READY_TIMEOUT_SECONDS for service in with_url)
    assert SERVICE_START_TIMEOUT_SECONDS >= READY_TIMEOUT_SECONDS
