"""Plan-aware spawning: the user's plan decides whether a server may start and its limits.

``PlanLimitsMixin`` goes in front of any spawner class (local, Docker, Kubernetes). At
start it asks the api for the spawn policy (plan limits, today's minutes left), refuses
with a message a person can act on, applies CPU, memory and idle limits, and reports the
session's start and stop to the usage ledger. The session's start time is kept in the
spawner's state, so a hub restart resumes the same session instead of opening a new one.

Where it reaches the api is configuration (``c.PlanLimitsMixin.platform_api_url`` and
friends); ``hub.spawners`` sets it from the platform settings.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jupyterhub.spawner import SpawnException
from traitlets import Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from api.core.config import get_settings
from hub.platform_api import (
    CONNECT_TIMEOUT_SECONDS,
    TIMEOUT_SECONDS,
    PlanLimits,
    PlatformApi,
    PlatformApiError,
    internal_api_url,
)

if TYPE_CHECKING:  # the mixin is used only on Spawner subclasses
    from jupyterhub.spawner import Spawner as _SpawnerBase
else:
    # Configurable, so its traits have a config section of their own (c.PlanLimitsMixin).
    _SpawnerBase = LoggingConfigurable

UPGRADE_PATH = "/services/api/docs#/me"


def idle_args(limits: PlanLimits) -> list[str]:
    """Arguments that make the single-user server shut itself down when idle."""
    seconds = limits.idle_timeout_minutes * 60
    return [
        f"--ServerApp.shutdown_no_activity_timeout={seconds}",
        f"--MappingKernelManager.cull_idle_timeout={seconds}",
        "--MappingKernelManager.cull_interval=60",
        "--MappingKernelManager.cull_connected=False",
    ]


def chosen_image(choice: str | None, offered: Sequence[str], allowed: Sequence[str]) -> str | None:
    """The image a server runs when the person's organisation offers ``offered`` and the
    operator allows organisations ``allowed``: of the images in both, their choice if it
    is one, else the first; None when none is in both (the spawner's own image)."""
    usable = [image for image in offered if image in allowed]
    if not usable:
        return None
    return choice if choice in usable else usable[0]


def session_start(hub_started: datetime | None) -> datetime:
    """The session's key: the hub's own start time, which the enforcer also sees."""
    if hub_started is None:
        return datetime.now(UTC)
    return hub_started if hub_started.tzinfo else hub_started.replace(tzinfo=UTC)


class PlanLimitsMixin(_SpawnerBase):  # type: ignore[misc]
    """Mix in before a Spawner class: ``class S(PlanLimitsMixin, DockerSpawner)``."""

    platform_api_url = Unicode(
        help="""Base URL of the platform api as the hub reaches it, e.g.
        ``http://127.0.0.1:8090/services/api/``: directly on loopback, not through the
        proxy. The hub asks it for the spawn policy before every start and reports each
        session's start and stop to its usage ledger.

        Default: the api's loopback port from the platform settings (DATAZENTR_API_PORT).
        """,
    ).tag(config=True)

    platform_api_token = Unicode(
        help="""Token the hub sends to the platform api's internal endpoints (spawn
        policy, usage ledger). The api accepts only the quota service's token there.

        Default: the quota service's token from the platform's secrets directory.
        """,
    ).tag(config=True)

    platform_api_timeout = Float(
        TIMEOUT_SECONDS,
        help="""Seconds to wait for one answer of the platform api. When it does not
        answer in time, a start is refused with "the platform could not check your plan"
        (try again), and a session start or stop that could not be reported is recorded
        by the quota enforcer's next round instead.
        """,
    ).tag(config=True)

    platform_api_connect_timeout = Float(
        CONNECT_TIMEOUT_SECONDS,
        help="""Seconds to wait for a connection to the platform api, within
        ``platform_api_timeout``. Short: the api runs next to the hub, so a connection
        that takes long means it is down.
        """,
    ).tag(config=True)

    organisation_images = List(
        Unicode(),
        help="""Images an organisation may offer its members' servers (the operator's
        allow-list). A server runs an image of its organisation's list only when it is in
        this one too; otherwise the spawner's own image.

        Default: the platform setting DATAZENTR_ORGANISATION_IMAGES (empty: organisations
        cannot choose images).
        """,
    ).tag(config=True)

    @default("organisation_images")
    def _default_organisation_images(self) -> list[str]:
        return list(get_settings().organisation_images)

    @default("platform_api_url")
    def _default_platform_api_url(self) -> str:
        return internal_api_url(get_settings())

    @default("platform_api_token")
    def _default_platform_api_token(self) -> str:
        return get_settings().quota_service_token()

    session_started_at: datetime | None = None
    plan_limits: PlanLimits | None = None

    @property
    def platform_api(self) -> PlatformApi:
        """The api client as configured here."""
        return PlatformApi(
            self.platform_api_url,
            self.platform_api_token,
            timeout=self.platform_api_timeout,
            connect_timeout=self.platform_api_connect_timeout,
        )

    @classmethod
    def platform_api_for(cls, config: Any) -> PlatformApi:
        """The client the hub's spawners use, for hub hooks that run without a spawner
        (the named-server limit): read from the same ``c.PlanLimitsMixin`` section."""
        configured: PlanLimitsMixin = cls(config=config)
        return configured.platform_api

    async def start(self) -> Any:
        user: str = self.user.name
        server_name: str = self.name
        api = self.platform_api
        try:
            policy = await api.spawn_policy(user, server_name)
        except PlatformApiError as exc:
            self.log.error("spawn policy for %s unavailable: %s", user, exc)
            raise SpawnException(
                "Your server cannot start right now: the platform could not check your plan. "
                "Try again in a minute; if it persists, tell your administrator.",
                reason="platform_unavailable",
                status_code=503,
            ) from exc
        if not policy.allowed:
            raise SpawnException(
                policy.message,
                reason="quota",
                status_code=403,
                message_html=(
                    f'{html.escape(policy.message)} <a href="{UPGRADE_PATH}">See your plan</a>.'
                ),
            )
        self.plan_limits = policy.limits
        self.mem_limit = policy.limits.memory_limit_mb * 1024 * 1024
        self.cpu_limit = policy.limits.cpu_limit
        self.use_offered_image(policy.images)
        result = await super().start()
        started = session_start(self.orm_spawner.started)
        try:
            await api.session_event(
                user=user, server_name=server_name, started_at=started, event="start", at=started
            )
        except PlatformApiError as exc:
            # The server runs; the enforcer's next heartbeat opens the session instead.
            self.log.warning("could not record session start of %s: %s", user, exc)
        self.session_started_at = started
        return result

    def use_offered_image(self, offered: Sequence[str]) -> None:
        """Run an image the person's organisation offers that the operator allows too
        (``organisation_images``): their choice if it is one of them, else the first.
        Only container spawners have an image; with none in both lists the spawner's own
        image (and allow-list) stay."""
        if not offered or not self.has_trait("image"):
            return
        options: dict[str, Any] = dict(getattr(self, "user_options", None) or {})
        current: str | None = getattr(self, "image", None)
        image = chosen_image(
            options.get("image") or current, offered, list(self.organisation_images)
        )
        if image is None:
            self.log.warning(
                "%s's organisation offers only images the operator does not allow: %s",
                self.user.name,
                ", ".join(offered),
            )
            return
        options.pop("image", None)
        if image != current:
            self.log.info("%s runs %s, an image their organisation offers", self.user.name, image)
        # DockerSpawner would check a chosen image against its own allow-list again.
        self.user_options = options
        self.image = image

    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        if self.plan_limits is not None:
            args.extend(idle_args(self.plan_limits))
        return args

    async def stop(self, now: bool = False) -> None:
        # Read before stopping: some spawners clear their state inside stop().
        started = self.session_started_at
        await super().stop(now=now)
        if started is None:
            return
        try:
            await self.platform_api.session_event(
                user=self.user.name,
                server_name=self.name,
                started_at=started,
                event="stop",
                at=datetime.now(UTC),
                reason="stopped",
            )
        except PlatformApiError as exc:
            # The enforcer closes sessions of servers that are no longer running.
            self.log.warning("could not record session stop: %s", exc)
        self.session_started_at = None

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.session_started_at is not None:
            state["session_started_at"] = self.session_started_at.isoformat()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if state.get("session_started_at"):
            self.session_started_at = datetime.fromisoformat(state["session_started_at"])

    def clear_state(self) -> None:
        super().clear_state()
        self.session_started_at = None
