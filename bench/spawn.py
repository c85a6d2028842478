"""Spawn latency on a real Docker engine: the platform against stock DockerSpawner.

Measures, for each variant in the same run, the time from the hub REST request that
starts a server to the first 200 from ``/user/NAME/api/status`` through the proxy:

- ``stock``: DockerSpawner's own defaults (containers kept and restarted on return), with
  only the host-network override its docstring prescribes, so it runs on this engine;
- ``platform, no pause``: the platform's spawner with ``DATAZENTR_DOCKER_PAUSE_MINUTES=0``
  (plan limits, ledger, a fresh container from the home volume on every start);
- ``platform``: the default, where a stopped server is paused and a returning user's
  server is unpaused.

Prints p50/p95 for a first spawn and for a returning user, and each ratio to stock.
Run: ``.venv/bin/python bench/spawn.py [--returns 10]`` (starts and stops its own dockerd).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.support.docker_engine import DockerEngine  # noqa: E402
from tests.support.hub import HubUser  # noqa: E402
from tests.support.platform import start_platform, stop_platform  # noqa: E402

STOCK_CONFIG = '''
import hashlib

from dockerspawner import DockerSpawner


class StockHostNetworkSpawner(DockerSpawner):
    """Stock DockerSpawner; on the host network, as its get_ip_and_port docstring says.

    A kept container restarts with the environment it was created with, so each user
    keeps one port.
    """

    async def start(self):
        digest = int(hashlib.sha256(self.user.name.encode()).hexdigest(), 16)
        self.ip, self.port = "127.0.0.1", 20000 + digest % 10000
        return await super().start()

    async def get_ip_and_port(self):
        return "127.0.0.1", self.port


c.JupyterHub.spawner_class = StockHostNetworkSpawner
c.DockerSpawner.remove = False  # the stock default: a returning user's container restarts
c.DockerSpawner.use_internal_ip = True  # no port publishing on the host network
c.DockerSpawner.extra_host_config = {}
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan"}  # stock naming
'''


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed_start(hub: httpx.Client, name: str, platform_url: str, token: str) -> float:
    started = time.perf_counter()
    response = hub.post(f"/users/{name}/server")
    assert response.status_code in (201, 202), response.text
    status_url = f"{platform_url}/user/{name}/api/status"
    while True:
        try:
            ready = httpx.get(status_url, headers={"Authorization": f"token {token}"}, timeout=10)
            if ready.status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > 180:
            raise TimeoutError(f"{name}'s server did not answer in 180 s")
        time.sleep(0.02)


def stop(hub: httpx.Client, name: str) -> None:
    hub.delete(f"/users/{name}/server")
    while hub.get(f"/users/{name}").json()["servers"]:
        time.sleep(0.1)


def measure(
    label: str, engine: DockerEngine, image: str, returns: int, **env: str
) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-spawn-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        Path(tmp).chmod(0o755)
        platform = start_platform(
            data_dir,
            Path(tmp) / "platform.log",
            DATAZENTR_SPAWNER="docker",
            DOCKER_HOST=engine.docker_host,
            DATAZENTR_SINGLEUSER_IMAGE=image,
            DATAZENTR_QUOTA_CHECK_SECONDS="60",
            **env,
        )
        try:
            user = HubUser(platform)
            user.signup()
            user.login()
            token = user.new_token()
            hub = httpx.Client(
                base_url=f"{platform.url}/hub/api",
                timeout=120,
                headers={"Authorization": f"token {token}"},
            )
            first = [timed_start(hub, user.name, platform.url, token)]
            returning = []
            for _ in range(returns):
                stop(hub, user.name)
                returning.append(timed_start(hub, user.name, platform.url, token))
            stop(hub, user.name)
            print(
                f"  {label}: first {first[0]:.2f}s, returning p50 "
                f"{statistics.median(returning):.2f}s",
                flush=True,
            )
            return {"first": first, "returning": returning}
        except Exception:
            print(platform.log_tail(30), file=sys.stderr)
            raise
        finally:
            stop_platform(platform)
            for container in engine.client.containers.list(all=True, filters={"name": "jupyter-"}):
                container.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=10, help="returning-user spawns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as run_dir:
        engine = DockerEngine.start(Path(run_dir))
        try:
            image = engine.singleuser_image()
            stock_config = Path(run_dir) / "stock_config.py"
            stock_config.write_text(STOCK_CONFIG)
            results = {
                "stock DockerSpawner": measure(
                    "stock",
                    engine,
                    image,
                    args.returns,
                    DATAZENTR_EXTRA_HUB_CONFIG=str(stock_config),
                ),
                "platform, no pause": measure(
                    "platform, no pause",
                    engine,
                    image,
                    args.returns,
                    DATAZENTR_DOCKER_PAUSE_MINUTES="0",
                ),
                "platform (pause on stop)": measure("platform", engine, image, args.returns),
            }
        finally:
            engine.stop()
    stock = results["stock DockerSpawner"]
    print(f"\nspawn latency, request -> /api/status 200 ({args.returns} returning spawns)")
    print(f"{'variant':28} {'first':>8} {'ret p50':>8} {'ret p95':>8} {'p50 vs stock':>13}")
    for label, timings in results.items():
        p50 = statistics.median(timings["returning"])
        ratio = statistics.median(stock["returning"]) / p50
        print(
            f"{label:28} {timings['first'][0]:7.2f}s {p50:7.2f}s "
            f"{percentile(timings['returning'], 0.95):7.2f}s {ratio:12.1f}x"
        )


if __name__ == "__main__":
    main()
