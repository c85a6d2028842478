"""The plan-aware spawner mixin: what a plan turns into for the single-user server."""

from datetime import UTC, datetime

from hub.plan_limits import idle_args, session_start
from hub.platform_api import PlanLimits

FREE = PlanLimits(
    plan_code="free",
    plan_name="Free",
    cpu_limit=1.0,
    memory_limit_mb=1024,
    idle_timeout_minutes=15,
    named_servers=1,
    daily_minutes=120,
)


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
