"""The quota enforcer: a hub-managed service that keeps running servers within their plans.

Every ``quota_check_seconds`` it lists the running servers from the hub, reports them to
the api's usage ledger (which also closes sessions of servers that vanished, e.g. after a
crash), and acts on the api's verdict per server: warn when the daily budget is nearly
spent, stop the server when it is spent. Every few rounds the heartbeat also carries the
size of each running person's home (:mod:`hub.storage`), the api's storage meter. Run by
the hub as ``python -m hub.quota``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from api.core.config import get_settings
from api.core.logging import configure_logging
from hub import storage
from hub.config import resolve_spawner
from hub.platform_api import PlatformApi, PlatformApiError

log = logging.getLogger("datazentr.quota")


# Asks the hub for its user list in pages (otherwise it cuts the list at one page).
PAGINATED = {"Accept": "application/jupyterhub-pagination+json"}


class HubClient:
    """The few hub REST calls the platform's own processes need (the enforcer's rounds,
    the launcher's shutdown), with the quota service's token."""

    def __init__(self, api_url: str, token: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url.rstrip("/") + "/",
            timeout=30,
            headers={"Authorization": f"token {token}"},
        )

    async def active_servers(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(user, server name, server model) of every server starting, running or stopping."""
        servers = []
        offset = 0
        while True:
            response = await self._client.get(
                "users", params={"state": "active", "offset": offset}, headers=PAGINATED
            )
            response.raise_for_status()
            page = response.json()
            for user in page["items"]:
                for name, server in (user.get("servers") or {}).items():
                    servers.append((user["name"], name, server))
            following = page["_pagination"].get("next")
            if not following:
                return servers
            offset = following["offset"]

    async def running_servers(self) -> list[dict[str, str]]:
        return [
            {"user": user, "server_name": name, "started_at": server["started"]}
            for user, name, server in await self.active_servers()
            if server.get("started")
        ]

    async def stop_server(self, user: str, server_name: str) -> None:
        path = (
            f"users/{quote(user)}/server"
            if not server_name
            else (f"users/{quote(user)}/servers/{quote(server_name)}")
        )
        response = await self._client.delete(path)
        if response.status_code not in (202, 204, 404):
            response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


async def stop_all_servers(hub: HubClient) -> int:
    """Stop every server and wait until the hub lists none; how many there were.

    Each server stops through its spawner as on any other stop, so its stop reaches the
    usage ledger while the api still runs. Bound it with ``asyncio.timeout``."""
    stopped: set[tuple[str, str]] = set()
    while servers := await hub.active_servers():
        stopped.update((user, name) for user, name, _ in servers)
        await asyncio.gather(
            *(
                hub.stop_server(user, name)
                for user, name, server in servers
                if server.get("pending") != "stop"
            )
        )
        await asyncio.sleep(0.5)
    return len(stopped)


# Homes are measured every this many rounds (a Docker engine measures all its volumes).
STORAGE_EVERY_ROUNDS = 10


class StorageSampler:
    """Measures the homes of the running users every ``every`` rounds (in a thread)."""

    def __init__(self, spawner: str, users_dir: Path, every: int = STORAGE_EVERY_ROUNDS) -> None:
        self.spawner = spawner
        self.users_dir = users_dir
        self.every = every
        self._round = 0

    async def sample(self, users: list[str]) -> list[dict[str, Any]]:
        self._round += 1
        if not users or (self._round - 1) % self.every:
            return []
        try:
            if self.spawner == "docker":
                sizes = await asyncio.to_thread(storage.docker_sizes, users)
            elif self.spawner == "local":
                sizes = await asyncio.to_thread(storage.local_sizes, self.users_dir, users)
            else:  # Kubernetes: volume sizes are the cluster's to report
                return []
        except Exception as exc:  # a sample missed is taken again in a few rounds
            log.warning("storage could not be measured: %s", exc)
            return []
        return [{"user": user, "bytes": size} for user, size in sorted(sizes.items())]


async def report(
    api: PlatformApi, servers: list[dict[str, str]], samples: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The heartbeat, with storage samples when there are some."""
    if not samples:
        return await api.heartbeat(servers)
    data = await api._call("POST", "internal/heartbeat", {"servers": servers, "storage": samples})
    if not isinstance(data, dict) or not isinstance(data.get("verdicts"), list):
        raise PlatformApiError("the platform api's heartbeat answer has no verdicts list")
    verdicts: list[dict[str, Any]] = data["verdicts"]
    return verdicts


async def check_once(
    hub: HubClient, api: PlatformApi, sampler: StorageSampler | None = None
) -> list[dict[str, Any]]:
    """One round: report running servers (and, every few rounds, the sizes of their
    homes), stop those over budget. Returns the verdicts."""
    servers = await hub.running_servers()
    started = {(s["user"], s["server_name"]): s["started_at"] for s in servers}
    samples = await sampler.sample(sorted({s["user"] for s in servers})) if sampler else []
    verdicts = await report(api, servers, samples)
    for verdict in verdicts:
        user, server_name = verdict["user"], verdict["server_name"]
        if verdict["action"] == "stop":
            log.info(
                "stopping server %r of %s: daily budget spent (%.1f min used)",
                server_name,
                user,
                verdict["minutes_used"],
            )
            # Close the session with its reason first; the spawner's own report of the
            # stop then finds it closed and changes nothing.
            await api.session_event(
                user=user,
                server_name=server_name,
                event="stop",
                at=datetime.now(UTC),
                reason="quota",
                started_at=datetime.fromisoformat(started[(user, server_name)]),
            )
            await hub.stop_server(user, server_name)
        elif verdict["action"] == "warn":
            log.info("%s has %.1f minutes left today", user, verdict["minutes_left"])
    return verdicts


async def run_forever() -> None:
    settings = get_settings()
    hub = HubClient(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"])
    api = PlatformApi.from_settings(settings)
    sampler = StorageSampler(resolve_spawner(settings), settings.data_dir / "users")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("quota enforcer checking every %ss", settings.quota_check_seconds)
    try:
        while not stop.is_set():
            try:
                await check_once(hub, api, sampler)
            except (PlatformApiError, httpx.HTTPError) as exc:
                log.warning("quota check failed, retrying next round: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.quota_check_seconds)
    finally:
        await hub.close()


def main() -> None:
    configure_logging(get_settings().log_level)
    asyncio.run(run_forever())


if __name__ == "__main__":
    main()
