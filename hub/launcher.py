"""``datazentr up``: the whole platform on one machine, on embedded defaults.

Starts, in order: the embedded PostgreSQL (unless DATABASE_URL points elsewhere), the
database migrations, then JupyterHub, which itself starts the proxy and the api service.
Ctrl-C (or SIGTERM) stops, in order: the users' servers (through the hub, while the api
still records their stops), the hub with what it started, then Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx
from pydantic import ValidationError

from api.accounts.mail import outbox_dir
from api.accounts.native_import import import_from_hub_database
from api.core import migrate
from api.core.config import ConfigError, Settings
from api.core.names import API_PREFIX
from api.core.postgres import EmbeddedPostgres, EmbeddedPostgresError
from api.marketplace.seed import load_featured_bundles
from api.patterns.seed import load_seed_library
from hub.config import PROJECT_ROOT, proxy_command, resolve_spawner
from hub.quota import HubClient, stop_all_servers

log = logging.getLogger("datazentr")

READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
# Servers stop in parallel; a local server may take ~20 s (interrupt, terminate, kill).
SERVERS_STOP_TIMEOUT_SECONDS = 90


class LaunchError(Exception):
    """The platform cannot start; the message says what to do."""


@contextmanager
def _single_instance(data_dir: Path) -> Iterator[None]:
    """One launcher per data dir: a second `make up` says so instead of fighting the first."""
    lock_path = data_dir / "launcher.lock"
    with lock_path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise LaunchError(
                f"DATAZENtr is already running from {data_dir} (launcher pid "
                f"{lock.read().strip() or '?'}). Stop it with Ctrl-C in its terminal first."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield


def _check_port_free(ip: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError:
            raise LaunchError(
                f"Port {port} on {ip} is in use by another program. Stop it, or choose "
                f"another port with {setting}=<port>."
            ) from None


def _preflight(settings: Settings) -> None:
    proxy = proxy_command(settings)
    if not Path(proxy).exists():
        raise LaunchError(
            f"configurable-http-proxy is missing ({proxy}). Run `make install` (it installs "
            f"the proxy from npm into node_modules), or set DATAZENTR_PROXY_COMMAND."
        )
    for port, setting in (
        (settings.hub_port, "DATAZENTR_HUB_PORT"),
        (settings.hub_api_port, "DATAZENTR_HUB_API_PORT"),
        (settings.proxy_api_port, "DATAZENTR_PROXY_API_PORT"),
        (settings.api_port, "DATAZENTR_API_PORT"),
    ):
        _check_port_free(
            settings.hub_ip if setting == "DATAZENTR_HUB_PORT" else "127.0.0.1", port, setting
        )
    if settings.dashboards_port is not None:
        _check_port_free("127.0.0.1", settings.dashboards_port, "DATAZENTR_DASHBOARDS_PORT")


def _wait_until_ready(settings: Settings, hub: subprocess.Popen[bytes]) -> None:
    public = f"http://127.0.0.1:{settings.hub_port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    # The hub and the api directly first: asking through the proxy before the hub adds
    # its routes (after the services answer) only fills the proxy's log with 404s.
    for url in (
        f"http://127.0.0.1:{settings.hub_api_port}/hub/health",
        f"http://127.0.0.1:{settings.api_port}{API_PREFIX}health",
        f"{public}/hub/health",
        f"{public}{API_PREFIX}health",
    ):
        while True:
            if hub.poll() is not None:
                raise LaunchError(
                    f"JupyterHub exited with code {hub.returncode}; see its log above."
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise LaunchError(f"{url} did not answer within {READY_TIMEOUT_SECONDS}s.")
            time.sleep(0.2)


def _banner(settings: Settings, seconds: float) -> str:
    url = settings.hub_url
    if settings.authenticator == "platform":
        sign_up = f"{url}{API_PREFIX.lstrip('/')}accounts/sign-up"
    else:
        sign_up = f"{url}hub/signup"
    admins = ", ".join(sorted(settings.admin_users))
    # With the platform's sign-in an admin is named by user name or by e-mail address.
    example = "you@example.org" if settings.authenticator == "platform" else "yourname"
    if admins:
        admin_line = f"Admins: {admins}. An admin signs up at {sign_up} the first time."
    else:
        admin_line = (
            f"No admin yet. To create one: stop (Ctrl-C), run "
            f"`DATAZENTR_ADMIN_USERS={example} make up`, then sign up as {example} at "
            f"{sign_up}."
        )
    database = "embedded PostgreSQL" if settings.uses_embedded_postgres else "DATABASE_URL"
    if settings.smtp_host:
        mail = f"sent via {settings.smtp_host}:{settings.smtp_port}"
    else:
        # A single machine without SMTP still verifies its first accounts: from the outbox.
        mail = f"no SMTP server set; mails are written to {outbox_dir(settings)}"
    return "\n".join(
        [
            "",
            f"  DATAZENtr is running at {url}   (ready in {seconds:.1f}s)",
            f"  Sign up:   {sign_up}",
            f"  API docs:  {url}{API_PREFIX.lstrip('/')}docs",
            f"  {admin_line}",
            f"  Data dir:  {settings.data_dir}  (database: {database})",
            f"  Mail:      {mail}",
            "  Stop:      Ctrl-C",
            "",
        ]
    )


def _import_native_users(settings: Settings) -> None:
    """People who signed up with NativeAuthenticator keep their names and passwords."""
    report = asyncio.run(import_from_hub_database(settings))
    if report.created:
        log.info(
            "carried %d NativeAuthenticator users over into accounts: %s",
            len(report.created),
            ", ".join(report.created),
        )


def _resolve_sessions(settings: Settings) -> Settings:
    """Pick where users' servers run, building the single-user image when Docker needs it."""
    mode = resolve_spawner(settings)
    if mode == "docker" and settings.singleuser_image is None:
        import docker

        from hub.docker_images import ensure_singleuser_image

        log.info("Docker engine found: users get their own containers")
        image = ensure_singleuser_image(
            docker.from_env(), progress=lambda line: log.info("image: %s", line)
        )
        return settings.model_copy(update={"spawner": mode, "singleuser_image": image})
    if mode == "local" and settings.spawner == "auto":
        log.warning(
            "No Docker engine answered (DOCKER_HOST or /var/run/docker.sock): users' servers "
            "run as local processes and are NOT isolated from each other. Install Docker for "
            "isolation, or set DATAZENTR_SPAWNER=local to silence this warning."
        )
    return settings.model_copy(update={"spawner": mode})


def _remove_platform_containers(settings: Settings) -> None:
    """Containers the hub left (servers paused for a fast return) go with the platform."""
    import docker

    from hub.spawners import PLATFORM_LABEL

    try:
        client = docker.from_env()
        leftovers = client.containers.list(
            all=True, filters={"label": f"{PLATFORM_LABEL}={settings.instance_id}"}
        )
        for container in leftovers:
            container.remove(force=True)
        if leftovers:
            log.info("removed %d paused user container(s)", len(leftovers))
    except docker.errors.DockerException as exc:
        log.warning("could not remove paused user containers: %s", exc)


def _stop_servers(settings: Settings) -> None:
    """Stop every user's server through the hub's REST API, before the hub itself.

    JupyterHub's own shutdown stops its managed services (the api among them) before it
    stops the servers, so the servers' stops would not reach the usage ledger and their
    sessions would be closed only later, where they were last seen. Stopped here first,
    each stop is recorded at its time. Whatever is left the hub stops as before.
    """

    async def stop_all() -> int:
        hub = HubClient(
            f"http://127.0.0.1:{settings.hub_api_port}/hub/api", settings.quota_service_token()
        )
        try:
            async with asyncio.timeout(SERVERS_STOP_TIMEOUT_SECONDS):
                return await stop_all_servers(hub)
        finally:
            await hub.close()

    log.info("stopping users' servers")
    try:
        stopped = asyncio.run(stop_all())
    except (httpx.HTTPError, TimeoutError) as exc:
        log.warning(
            "could not stop every user's server before the hub (%s); the hub stops the rest",
            str(exc) or f"not within {SERVERS_STOP_TIMEOUT_SECONDS}s",
        )
    else:
        log.info("stopped %d user server(s)", stopped)


def _stop_process(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    log.info("stopping %s", name)
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in %ss; killing its process group", name, STOP_TIMEOUT_SECONDS)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def up(settings: Settings) -> int:
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _single_instance(settings.data_dir):
        _preflight(settings)
        settings = _resolve_sessions(settings)
        settings.api_secret_key()  # generated into the data dir on first run
        postgres = EmbeddedPostgres(settings) if settings.uses_embedded_postgres else None
        hub: subprocess.Popen[bytes] | None = None
        hub_ready = False

        def _on_signal(signum: int, frame: FrameType | None) -> None:
            # Leaves whatever runs (starting, or waiting for the hub) for the orderly
            # shutdown below.
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        try:
            if postgres is not None:
                postgres.start()
            migrate.upgrade_platform(settings)
            if settings.authenticator == "platform":
                _import_native_users(settings)
            load_seed_library(settings.sqlalchemy_url, settings=settings)
            load_featured_bundles(settings.sqlalchemy_url)
            hub = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyterhub",
                    "-f",
                    str(PROJECT_ROOT / "jupyterhub_config.py"),
                ],
                cwd=settings.data_dir,
                env=os.environ | settings.child_environment(),
                # Own session: the launcher decides when the hub stops, so Postgres
                # outlives everything that uses it.
                start_new_session=True,
            )
            _wait_until_ready(settings, hub)
            hub_ready = True
            print(_banner(settings, time.monotonic() - started), file=sys.stderr, flush=True)
            return hub.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            # A second Ctrl-C must not cut the shutdown short and leave Postgres running.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if hub is not None:
                if hub_ready and hub.poll() is None:
                    _stop_servers(settings)
                _stop_process(hub, "JupyterHub")
            if settings.spawner == "docker":
                _remove_platform_containers(settings)
            if postgres is not None:
                postgres.stop()
            log.info("DATAZENtr stopped")


def migrate_only(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(settings) if settings.uses_embedded_postgres else None
    started = postgres.start() if postgres is not None else False
    try:
        migrate.upgrade_platform(settings)
        load_seed_library(settings.sqlalchemy_url, settings=settings)
        load_featured_bundles(settings.sqlalchemy_url)
    finally:
        if postgres is not None and started:
            postgres.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="datazentr", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="up",
        choices=["up", "migrate"],
        help="up: run the platform (default); migrate: migrate the database",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="datazentr: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request at shutdown
    try:
        settings = Settings()
        if args.command == "migrate":
            return migrate_only(settings)
        return up(settings)
    except ValidationError as exc:
        for error in exc.errors():
            field = "DATAZENTR_" + "_".join(str(p) for p in error["loc"]).upper()
            log.error("setting %s: %s", field, error["msg"])
        return 2
    except (LaunchError, EmbeddedPostgresError, ConfigError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
