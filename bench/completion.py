"""Inline completion latency at the server, offline (jedi) and through the model path.

Each variant answers the same requests over the inline completion WebSocket
(``api/ai/completion/inline``, jupyter-ai v2's wire format), one at a time as an editor
sends them, timed from send to reply on loopback:

- ``offline``: a Jupyter server with the assistant extension and no platform api to reach
  (the same path as an api without a model): jedi completes inside the server;
- ``model``: the whole platform (hub, api, Postgres) with an OpenAI-compatible model
  (tests/fake_openai.py) on loopback, a spawned user server, through the hub's proxy:
  server extension → api (auth, plan limit, usage) → model.

Baselines in the same run: a plain ``jedi.Script(...).complete()`` call in this process
for ``offline``, and a direct streamed request to the same model server for ``model``.
Prints p50/p95 and the ratio to the baseline. Goal: offline p50 ≤ 50 ms.

Run: ``.venv/bin/python bench/completion.py [--n 200] [--no-model]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jedi  # type: ignore[import-untyped]
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.support.asgi import serve_app  # noqa: E402
from tests.support.fake_openai import KEY, fake_openai_app  # noqa: E402
from tests.support.hub import HubUser  # noqa: E402
from tests.support.network import free_port  # noqa: E402
from tests.support.platform import start_platform, stop_platform  # noqa: E402

SERVER_TOKEN = secrets.token_hex(16)
MODEL = "bench-coder"
SNIPPETS = [
    "import os\nos.path.jo",
    "import json\njson.du",
    "import collections\ncollections.Ord",
    "import re\npattern = re.comp",
    "from pathlib import Path\nPath('.').glo",
    "import itertools\nitertools.chai",
    "import datetime\ndatetime.datetime.no",
    "import statistics\nstatistics.medi",
    "def total(values):\n    return su",
    "text = 'a,b'\ntext.spl",
    "numbers = [3, 1, 2]\nnumbers.so",
    "import subprocess\nsubprocess.ru",
    "import asyncio\nasyncio.gat",
    "import functools\nfunctools.lru",
    "import math\nmath.sq",
    "import csv\nreader = csv.Dict",
    "import typing\ntyping.Opt",
    "import logging\nlog = logging.getLog",
    "data = {'a': 1}\ndata.ite",
    "import shutil\nshutil.cop",
]


def requests(n: int) -> list[str]:
    return [SNIPPETS[i % len(SNIPPETS)] for i in range(n)]


def summary(name: str, seconds: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    p50 = statistics.median(ms)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    print(f"  {name:<44} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   (n={len(ms)})")
    return p50, p95


async def over_websocket(url: str, headers: dict[str, str], prefixes: list[str]) -> list[float]:
    """Send each request after the previous reply (an editor waits); time each round trip."""
    ws = await websocket_connect(HTTPRequest(url, headers=headers))
    times: list[float] = []
    empty = 0
    for number, prefix in enumerate(prefixes, start=1):
        request = {
            "number": number,
            "prefix": prefix,
            "suffix": "",
            "mime": "text/x-ipython",
            "stream": False,
            "path": "bench.ipynb",
            "language": "python",
            "cell_id": "c",
        }
        start = time.perf_counter()
        await ws.write_message(json.dumps(request))
        reply = json.loads(await ws.read_message())  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
        assert reply["reply_to"] == number, reply
        empty += not reply["list"]["items"]
    ws.close()
    if empty:
        print(f"  ({empty} of {len(prefixes)} requests had no suggestion)")
    return times


def plain_jedi(prefixes: list[str]) -> list[float]:
    environment = jedi.InterpreterEnvironment()
    times = []
    for prefix in prefixes:
        line = prefix.count("\n") + 1
        column = len(prefix.rsplit("\n", 1)[-1])
        start = time.perf_counter()
        jedi.Script(code=prefix, path="bench.py", environment=environment).complete(line, column)
        times.append(time.perf_counter() - start)
    return times


def wait_until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def bench_offline(prefixes: list[str], warmup: int) -> float:
    api_url = f"http://127.0.0.1:{free_port()}/services/api"  # nothing there: offline
    with tempfile.TemporaryDirectory() as root:
        port = free_port()
        env = os.environ | {"DATAZENTR_API_URL": api_url, "JUPYTERHUB_API_TOKEN": "unused"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "server",
                "--no-browser",
                "--allow-root",
                f"--port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.token={SERVER_TOKEN}",
                f"--ServerApp.root_dir={root}",
                '--ServerApp.jpserver_extensions={"extensions.assistant": True}',
            ],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: answers(f"{base}/api/status?token={SERVER_TOKEN}"), "the server")
            url = f"ws://127.0.0.1:{port}/api/ai/completion/inline"
            headers = {"Authorization": f"token {SERVER_TOKEN}"}
            asyncio.run(over_websocket(url, headers, prefixes[:warmup]))
            times = asyncio.run(over_websocket(url, headers, prefixes))
        finally:
            server.terminate()
            server.wait(10)
    plain_jedi(prefixes[:warmup])
    baseline = plain_jedi(prefixes)
    print("offline engine (jedi in the server):")
    p50, _ = summary("server, WebSocket round trip", times)
    base50, _ = summary("baseline: plain jedi call in-process", baseline)
    print(
        f"  ratio server / plain jedi (p50): {p50 / base50:.2f}x   goal p50 <= 50 ms: "
        f"{'met' if p50 <= 50 else 'NOT met'}"
    )
    return p50


def model_completion(body: dict[str, Any]) -> list[str]:
    return ["in(path, name)"]


def direct_model(url: str, n: int) -> list[float]:
    times = []
    body = {
        "model": MODEL,
        "stream": True,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "os.path.jo<CURSOR>"}],
    }
    with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as client:
        for _ in range(n):
            start = time.perf_counter()
            with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                for _line in response.iter_lines():
                    pass
            times.append(time.perf_counter() - start)
    return times


def bench_model(prefixes: list[str], warmup: int) -> None:
    app, calls, _ = fake_openai_app(scripts={MODEL: model_completion})
    with serve_app(app) as model_url, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        platform = start_platform(
            data_dir,
            Path(tmp) / "platform.log",
            DATAZENTR_LLM_BASE_URL=f"{model_url}/v1",
            DATAZENTR_LLM_MODEL=MODEL,
            DATAZENTR_LLM_API_KEY=KEY,
        )
        try:
            admin, user = HubUser(platform, "admin"), HubUser(platform)
            for person in (admin, user):
                person.signup()
                assert person.login().status_code == 302
            admin_token, token = admin.new_token(), user.new_token()
            api = f"{platform.url}/services/api"
            # Enough assistant requests for the run: the "pro" plan (3000 a day).
            response = httpx.get(f"{api}/me", headers={"Authorization": f"token {token}"})
            response.raise_for_status()
            response = httpx.put(
                f"{api}/admin/users/{user.name}/plan",
                json={"plan_code": "pro"},
                headers={"Authorization": f"token {admin_token}"},
            )
            response.raise_for_status()
            auth = {"Authorization": f"token {token}"}
            spawn = httpx.post(
                f"{platform.url}/hub/api/users/{user.name}/server", headers=auth, timeout=120
            )
            assert spawn.status_code in (201, 202), spawn.text
            status_url = f"{platform.url}/user/{user.name}/api/status"
            wait_until(
                lambda: httpx.get(status_url, headers=auth).status_code == 200,
                "the user's server",
                120,
            )
            ws_url = (
                platform.url.replace("http", "ws") + f"/user/{user.name}/api/ai/completion/inline"
            )
            asyncio.run(over_websocket(ws_url, auth, prefixes[:warmup]))
            before = calls[MODEL]
            times = asyncio.run(over_websocket(ws_url, auth, prefixes))
            answered = calls[MODEL] - before
        finally:
            stop_platform(platform)
        direct_model(model_url, warmup)
        baseline = direct_model(model_url, len(prefixes))
    print("model path (user server -> api -> model, through the hub's proxy):")
    p50, _ = summary("server, WebSocket round trip", times)
    base50, _ = summary("baseline: direct streamed model request", baseline)
    print(
        f"  model answered {answered} of {len(prefixes)}; "
        f"ratio platform / direct model (p50): {p50 / base50:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed requests per variant")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--no-model", action="store_true", help="only the offline engine")
    args = parser.parse_args()
    prefixes = requests(args.n)
    bench_offline(prefixes, args.warmup)
    if not args.no_model:
        bench_model(prefixes, args.warmup)


if __name__ == "__main__":
    main()
