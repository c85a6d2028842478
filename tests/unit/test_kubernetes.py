"""Kubernetes mode: the hub config KubeSpawner gets, and the Zero to JupyterHub values."""

from pathlib import Path

import yaml
from traitlets.config import Config

from api.core.config import Settings
from hub import config as hub_config
from hub.plan_limits import PlanLimitsMixin

VALUES = hub_config.PROJECT_ROOT / "deploy" / "kubernetes" / "values.yaml"


def kube_config(tmp_path: Path) -> Config:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        singleuser_image="datazentr/singleuser:test",
    )
    c = Config()
    hub_config.apply_kubernetes(settings, c)
    return c


def test_kubespawner_with_plan_limits_and_a_home_volume_per_server(tmp_path: Path) -> None:
    c = kube_config(tmp_path)
    spawner = c.JupyterHub.spawner_class
    assert spawner.__name__ == "PlatformKubeSpawner"
    assert issubclass(spawner, PlanLimitsMixin)
    kube = c.KubeSpawner
    assert kube.image == "datazentr/singleuser:test"
    assert kube.uid == 1000
    assert kube.allow_privilege_escalation is False
    assert kube.pvc_name_template == "datazentr-home-{user_server}"
    assert kube.volume_mounts == [{"name": "home", "mountPath": "/home/jovyan"}]


def test_the_chart_owns_proxy_network_and_hub_database(tmp_path: Path) -> None:
    c = kube_config(tmp_path)
    assert "ConfigurableHTTPProxy" not in c
    assert "db_url" not in c.JupyterHub
    assert "port" not in c.JupyterHub
    names = [service["name"] for service in c.JupyterHub.services]
    assert names == ["api", "quota", "generation-worker", "dashboards", "idle-culler"]


def test_values_hand_the_hub_to_the_platform_config() -> None:
    values = yaml.safe_load(VALUES.read_text())
    snippet = values["hub"]["extraConfig"]["datazentr"]
    assert "apply_kubernetes(get_settings(), c)" in snippet
    compile(snippet, "extraConfig", "exec")
    assert values["hub"]["extraEnv"]["DATAZENTR_SPAWNER"] == "kubernetes"
    assert values["singleuser"]["storage"]["homeMountPath"] == "/home/jovyan"
    assert values["singleuser"]["uid"] == 1000
    # The platform's own culler service replaces the chart's.
    assert values["cull"]["enabled"] is False
