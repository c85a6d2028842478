"""The plan-aware spawner mixin: what a plan turns into for the single-user server, how the
hub reads the api's answers, and where it is configured to reach the api."""

from __future__ import annotations

import dataclasses
import socket
import typing
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel
from traitlets.config import Config

from api.core.config import Settings
from api.schemas.usage import LimitsOut, SpawnPolicyOut
from hub.plan_limits import PlanLimitsMixin, chosen_image, idle_args, session_start
from hub.platform_api import PlanLimits, PlatformApi, PlatformApiError, SpawnPolicy
from hub.spawners import LocalSessionSpawner, PlatformDockerSpawner, apply_spawner

FREE = PlanLimits(
    plan_code="free",
    plan_name="Free",
    cpu_limit=1.0,
    memory_limit_mb=1024,
    idle_timeout_minutes=15,
    named_servers=1,
    daily_minutes=120,
)


def policy_json(**limits: Any) -> dict[str, Any]:
    """A spawn policy as the api sends it (its own response model, dumped to JSON)."""
    answer = SpawnPolicyOut(
        allowed=True,
        message="",
        limits=LimitsOut(**dataclasses.asdict(FREE)),
        minutes_used=3.5,
        minutes_left=116.5,
        images=[],
    ).model_dump(mode="json")
    answer["limits"].update(limits)
    return answer


def test_the_plans_idle_timeout_makes_the_server_stop_itself() -> None:
    args = idle_args(FREE)
    assert "--ServerApp.shutdown_no_activity_timeout=900" in args
    assert "--MappingKernelManager.cull_idle_timeout=900" in args


def test_the_session_key_is_the_hubs_own_start_time_in_utc() -> None:
    naive = datetime(2026, 11, 23, 12, 0, 0, 123456)  # the hub's database stores naive UTC
    assert session_start(naive) == naive.replace(tzinfo=UTC)
    aware = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert session_start(aware) is aware
    assert session_start(None).tzinfo is UTC


def test_a_spawn_policy_parses_from_the_apis_own_model() -> None:
    policy = SpawnPolicy.from_api(policy_json())
    assert policy == SpawnPolicy(
        allowed=True, message="", limits=FREE, minutes_used=3.5, minutes_left=116.5, images=[]
    )


def test_fields_the_api_adds_later_are_ignored() -> None:
    answer = policy_json(gpu_count=1, storage_gb=5)
    answer["queue_position"] = 0
    assert SpawnPolicy.from_api(answer).limits == FREE


def test_a_field_the_hub_needs_and_does_not_get_is_a_clear_error() -> None:
    answer = policy_json()
    del answer["limits"]["memory_limit_mb"], answer["limits"]["cpu_limit"]
    with pytest.raises(PlatformApiError) as caught:
        SpawnPolicy.from_api(answer)
    message = str(caught.value)
    assert "plan limits lacks cpu_limit, memory_limit_mb" in message
    assert "upgrade the api" in message
    with pytest.raises(PlatformApiError, match="no spawn policy object"):
        SpawnPolicy.from_api(["not", "an", "object"])


@pytest.mark.parametrize(
    ("hub_side", "api_side"), [(PlanLimits, LimitsOut), (SpawnPolicy, SpawnPolicyOut)]
)
def test_every_field_the_hub_reads_is_in_the_apis_schema_with_its_type(
    hub_side: type, api_side: type[BaseModel]
) -> None:
    api_fields = api_side.model_fields
    nested_fields: dict[type, dict[str, tuple[type, type]]] = {
        SpawnPolicy: {"limits": (PlanLimits, LimitsOut)}
    }
    nested = nested_fields.get(hub_side, {})
    for name, hub_type in typing.get_type_hints(hub_side).items():
        assert name in api_fields, f"the api's {api_side.__name__} has no {name}"
        assert api_fields[name].is_required(), f"{api_side.__name__}.{name} may be left out"
        expected = api_fields[name].annotation
        if name in nested:
            assert (hub_type, expected) == nested[name]
        else:
            assert hub_type == expected, f"{name}: hub reads {hub_type}, api sends {expected}"


def test_the_spawners_reach_the_api_where_the_settings_say(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, api_port=9123)
    c = Config()
    apply_spawner(settings, c)
    api = PlanLimitsMixin.platform_api_for(c)
    assert api.base_url == "http://127.0.0.1:9123/services/api/"
    assert c.PlanLimitsMixin.platform_api_token == settings.quota_service_token()
    # The spawner classes read the same config section.
    for spawner_class in (LocalSessionSpawner, PlatformDockerSpawner):
        assert "PlanLimitsMixin" in spawner_class.section_names()


def test_unconfigured_the_client_falls_back_to_the_platform_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, api_port=9124)
    monkeypatch.setattr("hub.plan_limits.get_settings", lambda: settings)
    configured = PlanLimitsMixin(config=Config())
    assert configured.platform_api_url == "http://127.0.0.1:9124/services/api/"
    assert configured.platform_api_token == settings.quota_service_token()


def test_every_setting_of_the_mixin_is_documented() -> None:
    traits = PlatformDockerSpawner.class_traits(config=True)
    for name in (
        "platform_api_url",
        "platform_api_token",
        "platform_api_timeout",
        "platform_api_connect_timeout",
    ):
        assert name in traits
        assert len(traits[name].help.split()) >= 10, f"{name} has no real help text"


async def test_an_api_that_never_answers_is_reported_not_waited_for() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        api = PlatformApi(f"http://127.0.0.1:{port}/services/api", "token", timeout=0.5)
        with pytest.raises(PlatformApiError, match="unreachable"):
            await api.spawn_policy("ada", "")


def test_an_organisations_images_decide_what_its_members_servers_run() -> None:
    offered = ["registry.example.org/team/notebook:2024", "jupyter/scipy-notebook"]
    allowed = [*offered, "datazentr/other:1"]
    assert chosen_image("jupyter/scipy-notebook", offered, allowed) == "jupyter/scipy-notebook"
    assert chosen_image("datazentr/singleuser:abc", offered, allowed) == offered[0]
    assert chosen_image(None, offered, allowed) == offered[0]
    assert chosen_image("datazentr/singleuser:abc", [], allowed) is None

    ada = SimpleNamespace(name="ada", id=1, url="/user/ada/")
    config = Config()
    config.PlanLimitsMixin.organisation_images = allowed
    docker = PlatformDockerSpawner(config=config, user=ada, image="datazentr/singleuser:abc")
    docker.use_offered_image([])
    assert docker.image == "datazentr/singleuser:abc"  # no list: the platform's own image
    # A choice outside the organisation's list gives way to its first image, and is not
    # checked again against the spawner's own allow-list.
    docker.user_options = {"image": "someone/else:1"}
    docker.use_offered_image(offered)
    assert docker.image == offered[0] and "image" not in docker.user_options
    docker.user_options = {"image": offered[1]}
    docker.use_offered_image(offered)
    assert docker.image == offered[1]
    local = LocalSessionSpawner(config=config, user=ada)
    local.use_offered_image(offered)  # a local process has no image: nothing to choose
    assert not local.has_trait("image")


def test_an_organisation_runs_only_images_the_operator_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = ["evil/miner:1", "jupyter/scipy-notebook"]
    # Only images in both lists count; none in both: the spawner's own image.
    assert chosen_image("evil/miner:1", offered, ["jupyter/scipy-notebook"]) == offered[1]
    assert chosen_image("evil/miner:1", offered, []) is None

    ada = SimpleNamespace(name="ada", id=1, url="/user/ada/")
    # Unconfigured, the allow-list is the platform setting; its default is empty.
    settings = Settings(_env_file=None, data_dir=tmp_path)
    monkeypatch.setattr("hub.plan_limits.get_settings", lambda: settings)
    docker = PlatformDockerSpawner(config=Config(), user=ada, image="datazentr/singleuser:abc")
    assert docker.organisation_images == []
    docker.user_options = {"image": "evil/miner:1"}
    docker.use_offered_image(offered)
    assert docker.image == "datazentr/singleuser:abc"
    assert docker.user_options == {"image": "evil/miner:1"}  # the spawner's own check stays

    allowing = Settings(
        _env_file=None, data_dir=tmp_path, organisation_images="jupyter/scipy-notebook"
    )
    monkeypatch.setattr("hub.plan_limits.get_settings", lambda: allowing)
    docker = PlatformDockerSpawner(config=Config(), user=ada, image="datazentr/singleuser:abc")
    docker.user_options = {"image": "evil/miner:1"}
    docker.use_offered_image(offered)
    assert docker.image == "jupyter/scipy-notebook"
