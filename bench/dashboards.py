"""Dashboards: the platform's hub-authenticated, preheated Voila against stock Voila.

For each dashboard notebook, in the same run:

- ``platform``: the ``dashboards`` service of a platform started here, through the proxy
  with the hub's OAuth session of a signed-up user (preheated kernels, per-user credential);
- ``stock``: ``voila NOTEBOOK`` as shipped (a kernel started per visit, no pool), on
  loopback, with the same user's credential in its environment so the notebook does the
  same work.

Measures time to first byte over HTTP and time to rendered widgets in chromium (the
dashboard's data cards on screen), p50 over ``--loads`` visits each, and prints the ratios.
Goal: platform p50 time to first byte <= 150 ms.
Run: ``.venv/bin/python bench/dashboards.py [--loads 10]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from api.core.config import Settings  # noqa: E402
from api.dashboard_credentials import mint  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sign_in  # noqa: E402
from tests.support.hub import HubUser  # noqa: E402
from tests.support.network import free_port  # noqa: E402
from tests.support.platform import start_platform, stop_platform  # noqa: E402

# notebook -> what shows the dashboard's data has arrived on screen
NOTEBOOKS = {
    "neural_dashboard": ".dz-pattern-card",
    "marketplace": ".dz-bundle-card",
    "orchestration": ".dz-tasks",  # the user's job's task queue
}
KERNEL_ID = re.compile(r'"kernelId":\s*"([0-9a-f-]{36})"')
# A used preheated kernel is replaced after Voila's fill delay (1 s) plus a kernel start.
REFILL_SECONDS = 3.0


def p50(values: list[float]) -> float:
    return statistics.median(values)


def first_byte(client: httpx.Client, url: str) -> tuple[float, str]:
    """Seconds to the first body byte, and the whole page (read afterwards)."""
    started = time.perf_counter()
    with client.stream("GET", url) as response:
        response.raise_for_status()
        chunks = response.iter_raw()
        first = next(chunks)
        elapsed = time.perf_counter() - started
        body = first + b"".join(chunks)
    return elapsed, body.decode(errors="replace")


def shut_down(client: httpx.Client, base: str, page: str) -> None:
    """Stop the kernel a page without a browser left behind (a browser does it on leave)."""
    match = KERNEL_ID.search(page)
    if match is None:
        return
    xsrf = next(
        (c.value for c in client.cookies.jar if c.name == "_xsrf" and base.endswith(c.path)),
        "",
    )
    done = client.post(
        f"{base}voila/api/shutdown/{match.group(1)}",
        headers={"X-XSRFToken": xsrf} if xsrf else {},
    )
    if done.status_code != 204:
        print(f"warning: kernel shutdown answered {done.status_code}", file=sys.stderr)


def measure_http(
    client: httpx.Client, page_url: str, loads: int, *, shutdown_base: str | None = None
) -> list[float]:
    """With ``shutdown_base``, each page's kernel is stopped after its load (stock Voila's
    kernels stay until its process ends after its loads)."""
    times = []
    for _ in range(loads):
        elapsed, page = first_byte(client, page_url)
        times.append(elapsed)
        if shutdown_base is not None:
            shut_down(client, shutdown_base, page)
        time.sleep(REFILL_SECONDS)
    return times


def measure_browser(page: Page, url: str, selector: str, loads: int) -> list[float]:
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(selector, timeout=60_000)
        times.append(time.perf_counter() - started)
        page.goto("about:blank")  # leaving shuts the kernel down
        time.sleep(REFILL_SECONDS)
    return times


def start_stock_voila(notebook: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(notebook),
            "--no-browser",
            f"--port={port}",
            "--Voila.ip=127.0.0.1",
        ],
        cwd=notebook.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/voila/static/", timeout=2)
            return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("stock voila did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=10, help="visits per dashboard and variant")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dashboards-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        platform = start_platform(data_dir, Path(tmp) / "platform.log")
        try:
            user = HubUser(platform)
            assert user.signup().status_code == 200 and user.login().status_code == 302
            base = "/services/dashboards/"
            client = httpx.Client(
                base_url=platform.url,
                cookies=user.client.cookies,
                timeout=120,
                follow_redirects=True,
            )
            client.get(base).raise_for_status()  # the OAuth hand-shake, once
            settings = Settings(_env_file=None, data_dir=data_dir)
            stock_env = os.environ | {
                "PYTHONPATH": str(PROJECT_ROOT),
                "DATAZENTR_DASHBOARD_API_URL": (
                    f"http://127.0.0.1:{_api_port(platform.log_path)}/services/api"
                ),
                "HTTP_X_DATAZENTR_DASHBOARD_CREDENTIAL": mint(
                    user.name, settings.dashboards_credential_key()
                ),
            }
            _one_finished_job(user)  # so the orchestration view has a job to show
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                sign_in(page, platform.url, user.name, user.password)
                for name, selector in NOTEBOOKS.items():
                    url = f"{base}voila/render/{name}.ipynb"
                    ours_ttfb = measure_http(client, url, args.loads, shutdown_base=base)
                    ours_render = measure_browser(page, platform.url + url, selector, args.loads)
                    port = free_port()
                    stock = start_stock_voila(
                        PROJECT_ROOT / "voila_apps" / f"{name}.ipynb", port, stock_env
                    )
                    try:
                        stock_client = httpx.Client(timeout=120)
                        stock_url = f"http://127.0.0.1:{port}/"
                        stock_ttfb = measure_http(stock_client, stock_url, args.loads)
                        stock_render = measure_browser(page, stock_url, selector, args.loads)
                    finally:
                        stock.terminate()
                        stock.wait(30)
                    rows.append((name, ours_ttfb, stock_ttfb, ours_render, stock_render))
                browser.close()
        finally:
            stop_platform(platform)

    print(f"\nDashboards, p50 over {args.loads} loads each (seconds); ratio = stock / platform")
    print(
        f"{'dashboard':<18}{'TTFB ours':>11}{'stock':>9}{'ratio':>8}"
        f"{'render ours':>13}{'stock':>9}{'ratio':>8}"
    )
    goal_met = True
    for name, ours_ttfb, stock_ttfb, ours_render, stock_render in rows:
        a, b, c, d = p50(ours_ttfb), p50(stock_ttfb), p50(ours_render), p50(stock_render)
        goal_met &= a <= 0.150
        print(f"{name:<18}{a:>11.3f}{b:>9.3f}{b / a:>7.1f}x{c:>13.3f}{d:>9.3f}{d / c:>7.1f}x")
    print(f"goal p50 TTFB <= 150 ms: {'met' if goal_met else 'NOT met'}")
    return 0


def _one_finished_job(user: HubUser) -> None:
    api = httpx.Client(
        base_url=f"{user.platform.url}/services/api/",
        headers={"Authorization": f"token {user.new_token()}"},
        timeout=60,
    )
    job = api.post("projects", json={"description": "A token bucket rate limiter library"})
    job.raise_for_status()
    deadline = time.monotonic() + 180
    while api.get(f"projects/{job.json()['id']}").json()["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError("the generation job did not finish")
        time.sleep(1)
    api.close()


def _api_port(log_path: Path) -> str:
    """The api's port, as the launcher's hub logged it (the platform picked a free one)."""
    match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_text())
    if match is None:
        raise RuntimeError("the api's port is not in the platform log")
    return match.group(1)


if __name__ == "__main__":
    sys.exit(main())
