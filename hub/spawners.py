"""Spawners that start each user's JupyterLab, all limited by the user's plan.

- ``docker``: one container per user (and per named server), the product's main path.
- ``local``: a process on this machine, for machines without Docker. It does not isolate
  users from each other or from the platform.
- ``kubernetes``: one pod per user through KubeSpawner, for clusters (see ``deploy/``).

When a user is deleted, JupyterHub calls ``delete_forever`` on each of their spawners: the
Docker spawner removes the server's container and home volume, the local spawner the user's
home directory, KubeSpawner the volume claims. Nothing else (no other user's files, no shared
volume) is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from docker import errors as docker_errors
from dockerspawner import DockerSpawner
from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from tornado import web
from traitlets import Integer, default

from api.core.config import Settings
from api.core.names import API_SERVICE
from hub.plan_limits import PlanLimitsMixin
from hub.platform_api import PlanLimits, PlatformApiError, internal_api_url

HOME_IN_CONTAINER = "/home/jovyan"
EXTENSIONS_DIR = Path(__file__).resolve().parent.parent / "extensions"
# The import name of extensions/ in users' servers (the image installs it under this name).
EXTENSIONS_PACKAGE = "datazentr_extensions"
IMAGE_PAGE_CONFIG = EXTENSIONS_DIR.parent / "images" / "singleuser" / "page_config.json"
# Processes one user's container may run: a fork bomb stops here, real work does not.
PIDS_LIMIT = 512


USERNAME_FIELD = "{username}"


def home_to_delete(home_dir_template: str, username: str) -> Path | None:
    """The user's own home directory under a ``<users dir>/{username}`` template, or None
    when there is none to delete safely: a template of another shape, or a name that is
    not exactly one directory entry ("..", "a/b")."""
    template = Path(home_dir_template)
    if template.name != USERNAME_FIELD or "{" in str(template.parent):
        return None
    if username in ("", ".", "..") or "/" in username or "\0" in username:
        return None
    return template.parent / username


def delete_home(home: Path) -> str:
    """Remove ``home`` without following a link out of it: a link there is removed itself,
    and links inside the directory are removed, never their targets. What was done."""
    if home.is_symlink() or (home.exists() and not home.is_dir()):
        home.unlink()
        return "removed"
    if not home.exists():
        return "absent"
    # A directory entry of the users directory, not a way out of it.
    if home.resolve().parent != home.parent.resolve():
        return "outside"
    shutil.rmtree(home)  # fd-based on Linux: it never follows symlinks inside
    return "removed"


class LocalSessionSpawner(PlanLimitsMixin, SimpleLocalProcessSpawner):  # type: ignore[misc]
    """One local JupyterLab process per user, home directories under the data dir."""

    @default("args")
    def _default_args(self) -> list[str]:
        # jupyter-server refuses to run as root unless told; the hub may run as root.
        return ["--allow-root"] if os.geteuid() == 0 else []

    async def delete_forever(self) -> None:
        """The user is deleted: remove their home directory (``users/<name>`` in the data
        dir), and only that. Named servers share the home, so deleting one of them alone
        leaves it; the hub deletes the default server with the user."""
        if self.name:
            return
        home = home_to_delete(self.home_dir_template, self.user.name)
        if home is None:
            self.log.warning(
                "not deleting the home of %s: %s is not a per-user directory",
                self.user.name,
                self.home_dir_template,
            )
            return
        done = await asyncio.to_thread(delete_home, home)
        if done == "outside":
            self.log.warning("not deleting %s: it leads outside %s", home, home.parent)
        else:
            self.log.info("home %s of deleted user %s: %s", home, self.user.name, done)


# Servers paused on stop, by container name: when each was paused (monotonic seconds).
_PAUSED: dict[str, float] = {}
PLATFORM_LABEL = "org.datazentr.platform"


class PausingDockerSpawner(DockerSpawner):  # type: ignore[misc]
    """DockerSpawner with a home volume per user and server, on the host network or a bridge.

    On the host network every server needs its own port: each start takes a free
    loopback port, and the server listens on loopback only.

    With ``pause_minutes`` set, stopping a server pauses its container (processes frozen,
    no CPU, memory kept) instead of removing it; starting again within that time, on the
    same plan limits, unpauses it: the user's kernels and open files are as they left
    them, in well under a second. Past that time, or after a plan change, the paused
    container is removed and a fresh one starts from the home volume.
    """

    pause_minutes = Integer(
        0,
        config=True,
        help="Keep a stopped server paused this long for a fast return (0: remove at once). "
        "Never longer than the plan's idle timeout, which would end its kernels anyway.",
    )

    @property
    def will_resume(self) -> bool:
        # A paused server keeps its hub token, so the hub must not delete it on stop.
        return bool(self.pause_minutes)

    def template_namespace(self) -> dict[str, Any]:
        namespace: dict[str, Any] = super().template_namespace()
        # Default server: datazentr-home-ada; named server "lab2": datazentr-home-ada--lab2.
        namespace["server_suffix"] = f"--{namespace['servername']}" if self.name else ""
        return namespace

    @property
    def on_host_network(self) -> bool:
        return bool(self.network_name == "host")

    def _pause_window_seconds(self) -> float:
        minutes = float(self.pause_minutes)
        limits: PlanLimits | None = getattr(self, "plan_limits", None)
        if limits is not None:
            minutes = min(minutes, limits.idle_timeout_minutes)
        return minutes * 60

    async def start(self) -> Any:
        await self._remove_expired_paused()
        resumed = await self._resume_paused()
        if resumed is not None:
            return resumed
        if self.on_host_network:
            self.ip = "127.0.0.1"
            self.port = random_port()
        return await super().start()

    async def stop(self, now: bool = False) -> None:
        if self.pause_minutes and self.object_id and self._pause_window_seconds() > 0:
            try:
                await self.docker("pause", self.object_id)
            except docker_errors.APIError as exc:
                self.log.warning("could not pause %s (%s); stopping it", self.object_name, exc)
            else:
                _PAUSED[self.object_name] = time.monotonic()
                self.log.info("paused %s for a fast return", self.object_name)
                return
        await super().stop(now=now)

    async def _resume_paused(self) -> tuple[str, int] | None:
        container = await self.get_object()
        if not container or not container["State"].get("Paused"):
            return None
        paused_at = _PAUSED.pop(self.object_name, None)
        fresh = paused_at is not None and (
            time.monotonic() - paused_at < self._pause_window_seconds()
        )
        if not (fresh and self._same_limits(container)):
            self.log.info(
                "replacing paused %s (%s)",
                self.object_name,
                "plan limits changed" if fresh else "paused too long",
            )
            await self.docker("remove_container", container["Id"], force=True)
            return None
        await self.docker("unpause", container["Id"])
        self.object_id = container["Id"]
        env = dict(line.split("=", 1) for line in container["Config"]["Env"] if "=" in line)
        self.api_token = env["JUPYTERHUB_API_TOKEN"]
        if self.on_host_network:
            self.ip = "127.0.0.1"
            self.port = urlparse(env["JUPYTERHUB_SERVICE_URL"]).port or self.port
        await self._touch(env)
        self.log.info("resumed paused %s", self.object_name)
        ip_port: tuple[str, int] = await self.get_ip_and_port()
        return ip_port

    def _same_limits(self, container: dict[str, Any]) -> bool:
        host = container["HostConfig"]
        cpus = host.get("CpuQuota", 0) / host["CpuPeriod"] if host.get("CpuPeriod") else 0.0
        return bool(
            host.get("Memory") == int(self.mem_limit or 0)
            and abs(cpus - float(self.cpu_limit or 0)) < 1e-6
            and container["Config"]["Image"] == self.image
        )

    async def _touch(self, env: dict[str, str]) -> None:
        """An API request right after resuming restarts the server's idle clock, which
        kept running while it was paused."""
        url = env["JUPYTERHUB_SERVICE_URL"].rstrip("/") + "/api/me"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.get(url, headers={"Authorization": f"token {self.api_token}"})
        except httpx.HTTPError as exc:
            self.log.debug("touching resumed server failed: %s", exc)

    async def _remove_expired_paused(self) -> None:
        window = self._pause_window_seconds()
        for name, paused_at in list(_PAUSED.items()):
            if time.monotonic() - paused_at >= window:
                _PAUSED.pop(name, None)
                with contextlib.suppress(docker_errors.NotFound):
                    await self.docker("remove_container", name, force=True)

    async def get_ip_and_port(self) -> tuple[str, int]:
        if self.on_host_network:
            return "127.0.0.1", int(self.port)
        ip_port: tuple[str, int] = await super().get_ip_and_port()
        return ip_port

    def own_volumes(self) -> list[str]:
        """The named volumes of this server alone: those whose name has the user's name in
        it (the home volume). Host paths and shared volumes are never the user's to delete."""
        names = []
        for source in self.volumes:
            if source.startswith(("/", ".")) or not any(
                f"{{{field}}}" in source for field in ("username", "safe_username", "raw_username")
            ):
                continue
            name = str(self.format_volume_name(source, self))
            if "/" not in name:
                names.append(name)
        return names

    async def delete_forever(self) -> None:
        """The user (or this named server) is deleted: remove the server's container if one
        is left (a paused server) and its own home volume (``own_volumes``)."""
        _PAUSED.pop(self.object_name, None)
        try:
            await self.docker("remove_container", self.object_name, force=True)
        except docker_errors.NotFound:
            pass
        else:
            self.log.info("removed container %s of deleted %s", self.object_name, self._log_name)
        for volume in self.own_volumes():
            try:
                await self.docker("remove_volume", volume)
            except docker_errors.NotFound:
                self.log.info("no volume %s to remove for %s", volume, self._log_name)
            else:
                self.log.info("removed volume %s of deleted %s", volume, self._log_name)


class PlatformDockerSpawner(PlanLimitsMixin, PausingDockerSpawner):
    """The plan check and the usage ledger wrap every start and stop, paused or not."""


def _kube_spawner_class() -> type:
    # Imported only in Kubernetes mode: the kubernetes client is large and slow to import.
    from kubespawner import KubeSpawner

    class PlatformKubeSpawner(PlanLimitsMixin, KubeSpawner):  # type: ignore[misc]
        """KubeSpawner with the same plan limits and ledger as the other modes."""

    return PlatformKubeSpawner


def _configure_common(settings: Settings, c: Any) -> None:
    c.Spawner.default_url = "/lab"
    # A server's own token ($JUPYTERHUB_API_TOKEN, owned by its user) also opens the api:
    # the platform's extensions and magics call it as that user, and no model key ever
    # enters a user's server.
    c.Spawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        f"access:services!service={API_SERVICE}",
    ]
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    # Where every plan-aware spawner (and the named-server limit) asks for the plan.
    c.PlanLimitsMixin.platform_api_url = internal_api_url(settings)
    c.PlanLimitsMixin.platform_api_token = settings.quota_service_token()
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = named_server_limit


def configure_local(settings: Settings, c: Any) -> None:
    c.JupyterHub.spawner_class = LocalSessionSpawner
    # The single-user server from the platform's own environment, not whatever is on PATH.
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.SimpleLocalProcessSpawner.home_dir_template = str(settings.data_dir / "users" / "{username}")
    # The platform's server extensions are enabled by their own config files, as in the
    # single-user image, which name them by their installed package.
    c.Spawner.environment = {
        "JUPYTER_CONFIG_PATH": str(extension_config_dir(settings)),
        "JUPYTER_PATH": labextension_data_path(),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(extension_package_dir(settings)), os.environ.get("PYTHONPATH")])
        ),
        **platform_environment(settings),
    }


def platform_environment(settings: Settings) -> dict[str, str]:
    """What a user's server needs to find the platform: the api's URL as seen from it."""
    return {"DATAZENTR_API_URL": settings.api_url_for_servers}


def extension_config_dir(settings: Settings) -> Path:
    """A Jupyter config dir enabling every extension in extensions/ (for local servers)."""
    target = settings.data_dir / "jupyter-config"
    enabled = target / "jupyter_server_config.d"
    enabled.mkdir(parents=True, exist_ok=True)
    for source in EXTENSIONS_DIR.glob("*/jupyter-config/server-config/*.json"):
        destination = enabled / f"datazentr-{source.name}"
        if not destination.exists() or destination.read_bytes() != source.read_bytes():
            destination.write_bytes(source.read_bytes())
    # JupyterLab's page settings, as in the image (no news question on a managed platform).
    labconfig = target / "labconfig"
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_bytes(IMAGE_PAGE_CONFIG.read_bytes())
    return target


def extension_package_dir(settings: Settings) -> Path:
    """A directory whose ``datazentr_extensions`` is extensions/ (a symlink), for local
    servers' PYTHONPATH: their config files and kernels import the package by the name the
    image installs it under, and the repository's code is what runs."""
    target = settings.data_dir / "python"
    target.mkdir(parents=True, exist_ok=True)
    link = target / EXTENSIONS_PACKAGE
    if not (link.is_symlink() and link.readlink() == EXTENSIONS_DIR):
        temporary = target / f".{EXTENSIONS_PACKAGE}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(EXTENSIONS_DIR, target_is_directory=True)
        temporary.replace(link)  # atomic: a server starting now sees the old or the new link
    return target


def labextension_data_path() -> str:
    """JUPYTER_PATH entries holding the built JupyterLab front ends of extensions/ (for
    local servers; the image installs them into share/jupyter/labextensions)."""
    return os.pathsep.join(str(path.parent) for path in EXTENSIONS_DIR.glob("*/labextensions"))


def configure_docker(settings: Settings, c: Any, image: str) -> None:
    c.JupyterHub.spawner_class = PlatformDockerSpawner
    docker = c.DockerSpawner
    docker.image = image
    docker.allowed_images = [image]  # an explicit allow-list: never "any image"
    docker.pull_policy = "never"  # images are built here, there is no registry to pull from
    docker.remove = True  # containers go on stop; the home volume stays
    docker.volumes = {"datazentr-home-{username}{server_suffix}": HOME_IN_CONTAINER}
    docker.notebook_dir = HOME_IN_CONTAINER
    docker.network_name = settings.docker_network
    # No port publishing: on the host network the server binds loopback itself, on a
    # bridge the hub reaches the container by its IP.
    docker.use_internal_ip = True
    docker.extra_host_config = {
        "pids_limit": PIDS_LIMIT,
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
    }
    docker.cmd = ["jupyterhub-singleuser"]
    docker.environment = platform_environment(settings)
    docker.pause_minutes = settings.docker_pause_minutes
    # Every container of this platform carries its label: the launcher removes what is
    # left (paused servers) when the platform stops.
    docker.extra_create_kwargs = {"labels": {PLATFORM_LABEL: settings.instance_id}}
    if settings.docker_network != "host":
        # Containers reach the hub through the bridge's gateway.
        c.JupyterHub.hub_ip = "0.0.0.0"  # containers on the bridge connect in
        c.JupyterHub.hub_connect_ip = settings.docker_hub_connect_ip


def configure_kubernetes(settings: Settings, c: Any, image: str) -> None:
    c.JupyterHub.spawner_class = _kube_spawner_class()
    kube = c.KubeSpawner
    kube.image = image
    kube.image_pull_policy = "IfNotPresent"
    kube.uid = 1000
    kube.fs_gid = 100
    kube.allow_privilege_escalation = False
    kube.storage_pvc_ensure = True
    kube.storage_capacity = "1Gi"
    kube.pvc_name_template = "datazentr-home-{user_server}"
    kube.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    kube.volume_mounts = [{"name": "home", "mountPath": HOME_IN_CONTAINER}]
    kube.cmd = ["jupyterhub-singleuser"]
    kube.environment = platform_environment(settings)


async def named_server_limit(handler: Any) -> int:
    """Named servers a user may run at once, from their plan (0 would mean unlimited)."""
    api = PlanLimitsMixin.platform_api_for(handler.settings["config"])
    try:
        policy = await api.spawn_policy(handler.current_user.name, "")
    except PlatformApiError as exc:
        handler.log.error("named-server limit of %s unavailable: %s", handler.current_user, exc)
        raise web.HTTPError(
            503,
            "The platform could not check your plan's named servers. Try again in a minute; "
            "if it persists, tell your administrator.",
        ) from exc
    return max(1, policy.limits.named_servers)


def apply_spawner(settings: Settings, c: Any, *, image: str | None = None) -> None:
    _configure_common(settings, c)
    mode = settings.spawner
    if mode == "docker":
        configure_docker(settings, c, image or _default_image(settings))
    elif mode == "kubernetes":
        configure_kubernetes(settings, c, image or _default_image(settings))
    else:
        configure_local(settings, c)


def _default_image(settings: Settings) -> str:
    if settings.singleuser_image:
        return settings.singleuser_image
    from hub.docker_images import SINGLEUSER_IMAGE

    return SINGLEUSER_IMAGE
