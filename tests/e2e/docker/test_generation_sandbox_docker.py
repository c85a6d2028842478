"""The quality gates in the Docker sandbox: generated code really runs in a container with
no network, a read-only root, limits, and the project copy as its only writable mount; the
container is gone afterwards, also when the step is cancelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.core.config import Settings
from api.generation import sandbox
from api.generation.gates import GateResult, run_gates
from api.generation.sandbox import Limits
from api.generation.sandbox_docker import LABEL, DockerSandbox
from hub.docker_images import BASE_IMAGE, build_base_image, image_exists
from tests.support.docker_engine import DockerEngine
from tests.support.network import loopback_listener

pytestmark = pytest.mark.slow

GOOD = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
}


@pytest.fixture(scope="module")
def box(docker_engine: DockerEngine) -> DockerSandbox:
    if not image_exists(docker_engine.client, BASE_IMAGE):
        build_base_image(docker_engine.client, print)
    for left in docker_engine.client.containers.list(all=True, filters={"label": LABEL}):
        left.remove(force=True)  # of an earlier, killed run (the engine's data is kept)
    return DockerSandbox(BASE_IMAGE, docker_engine.docker_host)


def gate(results: list[GateResult], name: str) -> GateResult:
    return next(r for r in results if r.gate == name)


def sandbox_containers(engine: DockerEngine) -> list[str]:
    containers = engine.client.containers.list(all=True, filters={"label": LABEL})
    return [c.id for c in containers if c.id is not None]


def test_auto_picks_docker_when_an_engine_answers(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_engine.docker_host)
    settings = Settings(_env_file=None)
    assert sandbox.choose_backend(settings).name == "docker"
    forced = Settings(_env_file=None, generation_sandbox="bubblewrap")
    assert sandbox.choose_backend(forced).name == "bubblewrap"
    no_image = Settings(_env_file=None, generation_sandbox_image="datazentr/not-built:none")
    assert sandbox.choose_backend(no_image).name == "bubblewrap"
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert sandbox.choose_backend(settings).name == "bubblewrap"


def test_the_gates_pass_and_fail_for_real_in_a_container(
    box: DockerSandbox, docker_engine: DockerEngine
) -> None:
    results = run_gates(GOOD, backend=box)
    assert [(r.gate, r.passed) for r in results] == [
        ("syntax", True),
        ("tests", True),
        ("security", True),
    ], [r.report for r in results]
    assert gate(results, "tests").metrics["pass_rate"] == 1.0
    broken = gate(
        run_gates(GOOD | {"calc.py": "def add(a, b):\n    return a - b\n"}, backend=box), "tests"
    )
    assert not broken.passed and "assert -1 == 5" in broken.report
    assert sandbox_containers(docker_engine) == []


def test_a_node_project_is_checked_in_a_container(box: DockerSandbox) -> None:
    files = {
        "add.js": "module.exports = (a, b) => a + b;\n",
        "test/add.test.js": (
            "const test = require('node:test');\nconst assert = require('node:assert');\n"
            "const add = require('../add.js');\n\n"
            "test('adds', () => assert.strictEqual(add(2, 3), 5));\n"
        ),
    }
    results = run_gates(files, backend=box, language="javascript")
    assert all(r.passed for r in results), [r.report for r in results]
    assert gate(results, "tests").metrics["tests"] == 1


@pytest.fixture
def listener() -> Iterator[int]:
    with loopback_listener() as port:
        yield port


def test_no_network_no_writes_outside_the_project_and_limits(
    box: DockerSandbox, listener: int, tmp_path: Path
) -> None:
    (tmp_path / "probe.py").write_text(
        "import os, socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {listener}), timeout=2)\n"
        "    print('network: reached')\n"
        "except OSError as exc:\n"
        "    print('network: blocked', exc)\n"
        "for path in ('/etc/owned', '/usr/owned', '/owned'):\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('write', path, 'ok')\n"
        "    except OSError as exc:\n"
        "        print('write', path, 'refused', exc.errno)\n"
        "open('inside.txt', 'w').write('x')\n"
        "print('uid', os.getuid())\n"
    )
    result = sandbox.run(tmp_path, ["python", "probe.py"], backend=box)
    assert result.returncode == 0, result.stderr
    assert "network: blocked" in result.stdout
    assert result.stdout.count(" refused 30\n") == 3  # EROFS: the root is read-only
    assert " ok\n" not in result.stdout
    assert "uid 65534" in result.stdout
    assert (tmp_path / "inside.txt").read_text() == "x"
    (tmp_path / "hog.py").write_text("x = bytearray(1024 * 1024 * 1024)\n")
    hog = sandbox.run(tmp_path, ["python", "hog.py"], Limits(memory_bytes=256 * 1024 * 1024), box)
    assert hog.returncode != 0
    (tmp_path / "forks.py").write_text(
        "import os, time\nkids = 0\ntry:\n    for _ in range(200):\n"
        "        if os.fork() == 0:\n            time.sleep(5)\n            os._exit(0)\n"
        "        kids += 1\nexcept OSError:\n    pass\nprint(kids)\n"
    )
    forks = sandbox.run(tmp_path, ["python", "forks.py"], Limits(processes=20), box)
    assert forks.returncode == 0 and int(forks.stdout.strip()) < 20, forks


SLEEP_SECONDS = 60


def test_a_timeout_or_a_cancel_removes_the_container(
    box: DockerSandbox, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    (tmp_path / "sleep.py").write_text(f"import time\ntime.sleep({SLEEP_SECONDS})\n")
    slow = sandbox.run(tmp_path, ["python", "sleep.py"], Limits(wall_seconds=2), box)
    # Ended by the limit, not by the script (which would take a minute).
    assert slow.timed_out and slow.seconds < SLEEP_SECONDS
    assert sandbox_containers(docker_engine) == []

    async def cancel_while_running() -> float:
        task = asyncio.create_task(sandbox.run_async(tmp_path, ["python", "sleep.py"], None, box))
        deadline = time.monotonic() + 30
        while not sandbox_containers(docker_engine):
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        cancelled = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.perf_counter() - cancelled

    took = asyncio.run(cancel_while_running())
    print(f"docker sandbox cancel: {took:.2f} s")
    assert took < SLEEP_SECONDS, "the cancel waited for the script instead of killing it"
    assert sandbox_containers(docker_engine) == []
