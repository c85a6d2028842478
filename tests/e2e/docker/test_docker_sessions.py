"""Isolated sessions on a real Docker engine: limits, kernels, persistence, isolation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.artifacts import artifact_path
from tests.support.hub import TINY_PLAN, Hub, HubUser
from tests.support.kernels import execute, run_in_kernel, start_kernel
from tests.support.platform import ADMIN_NAME, Platform, start_platform, stop_platform

pytestmark = pytest.mark.slow

FREE_PLAN_MEMORY = 1024 * 1024 * 1024
FREE_PLAN_CPUS = 1.0


@pytest.fixture(scope="module")
def docker_platform(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: Any, singleuser_image: str
) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("docker-platform") / "data"
    data_dir.mkdir()
    running = start_platform(
        data_dir,
        artifact_path("docker-platform.log"),
        DATAZENTR_SPAWNER="docker",
        DOCKER_HOST=docker_engine.docker_host,
        DATAZENTR_SINGLEUSER_IMAGE=singleuser_image,
    )
    try:
        yield running
    finally:
        assert stop_platform(running) == 0, running.log_tail()
        # Containers go with their servers; home volumes stay for the next start.
        leftover = docker_engine.client.containers.list(all=True, filters={"name": "jupyter-"})
        assert leftover == []


@pytest.fixture(scope="module")
def admin_api(docker_platform: Platform) -> Iterator[httpx.Client]:
    """The api as the platform's admin (named in DATAZENTR_ADMIN_USERS)."""
    admin = HubUser(docker_platform, name=ADMIN_NAME)
    admin.signup()
    assert admin.login().status_code == 200
    with httpx.Client(
        base_url=f"{docker_platform.url}/services/api",
        timeout=30,
        headers={"Authorization": f"token {admin.new_token()}"},
    ) as client:
        yield client
    admin.close()


@pytest.fixture
def person(docker_platform: Platform) -> Iterator[Hub]:
    user = HubUser(docker_platform)
    assert user.signup().status_code == 200
    assert user.login().status_code == 200
    hub = Hub(user)
    yield hub
    for server in list(hub.servers()):
        hub.stop(server)
    user.close()


def _token(hub: Hub) -> str:
    return str(hub.client.headers["Authorization"]).split()[1]


def _server_url(hub: Hub) -> str:
    return f"{hub.user.platform.url}/user/{hub.user.name}"


def _container(docker_engine: Any, hub: Hub) -> Any:
    (container,) = docker_engine.client.containers.list(
        filters={"name": f"jupyter-{hub.user.name}"}
    )
    return container


def test_limits_from_the_plan_apply_inside_the_container(person: Hub, docker_engine: Any) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    host_config = _container(docker_engine, person).attrs["HostConfig"]
    assert host_config["Memory"] == FREE_PLAN_MEMORY
    assert host_config["CpuQuota"] / host_config["CpuPeriod"] == FREE_PLAN_CPUS
    assert host_config["Privileged"] is False
    assert host_config["PidsLimit"] > 0
    # What the kernel itself sees: the cgroup limits (v2 or v1 layout).
    code = (
        "from pathlib import Path\n"
        "v2 = Path('/sys/fs/cgroup/memory.max')\n"
        "mem = v2.read_text() if v2.exists() else "
        "Path('/sys/fs/cgroup/memory/memory.limit_in_bytes').read_text()\n"
        "cpu = Path('/sys/fs/cgroup/cpu.max')\n"
        "if cpu.exists():\n"
        "    quota, period = cpu.read_text().split()\n"
        "else:\n"
        "    quota = Path('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read_text()\n"
        "    period = Path('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read_text()\n"
        "print(int(mem), int(quota) / int(period))\n"
    )
    memory, cpus = run_in_kernel(_server_url(person), _token(person), "python3", code).split()
    assert int(memory) == FREE_PLAN_MEMORY
    assert float(cpus) == FREE_PLAN_CPUS


def test_python_and_bash_kernels_run_code(person: Hub) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    python = run_in_kernel(
        _server_url(person), _token(person), "python3", "import os; print(os.getuid(), os.getcwd())"
    )
    assert python.split() == ["1000", "/home/jovyan"]
    bash = run_in_kernel(_server_url(person), _token(person), "bash", "echo $((6 * 7)) $(whoami)")
    assert bash.split() == ["42", "jovyan"]


def test_the_assistant_reaches_the_api_from_the_container_as_its_user(person: Hub) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    headers = {"Authorization": f"token {_token(person)}"}
    with httpx.Client(base_url=_server_url(person), headers=headers, timeout=60) as server:
        status = server.get("datazentr/assistant/status").json()
        assert status["api_reachable"] is True, status  # the server token opened the api
        assert status["engine"] == "offline" and status["requests_per_day"] == 100
        usage = server.get("datazentr/session/usage").json()
        assert usage["plan"]["code"] == "free" and usage["minutes_left"] <= 120
        found = server.get("datazentr/patterns/search", params={"q": "read a csv file"})
        assert found.status_code == 200 and found.json()["results"], found.text
    # Every Python kernel of the image has the platform's magics.
    magics = run_in_kernel(
        _server_url(person),
        _token(person),
        "python3",
        "print('assist' in get_ipython().magics_manager.magics['cell'])",
    )
    assert magics.split() == ["True"]


def test_files_survive_stop_and_start(person: Hub, docker_engine: Any) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    client = httpx.Client(base_url=_server_url(person), headers=person.client.headers, timeout=30)
    saved = client.put(
        "/api/contents/keep.txt", json={"type": "file", "format": "text", "content": "still here"}
    )
    assert saved.status_code in (200, 201)
    first = _container(docker_engine, person).id
    person.stop()
    # As when a paused server expires: the container goes, the home volume stays.
    docker_engine.client.containers.get(first).remove(force=True)
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    assert _container(docker_engine, person).id != first  # a new container, the same home
    content = client.get("/api/contents/keep.txt", params={"content": "1"}).json()["content"]
    assert content == "still here"
    client.close()


def test_one_user_cannot_reach_anothers_files(docker_platform: Platform) -> None:
    people = []
    for _ in range(2):
        user = HubUser(docker_platform)
        assert user.signup().status_code == 200
        assert user.login().status_code == 200
        people.append(Hub(user))
    alice, bob = people
    try:
        for hub in people:
            assert hub.start().status_code in (201, 202)
        for hub in people:
            hub.wait_ready()
        secret = f"secret-of-{bob.user.name}"
        run_in_kernel(_server_url(bob), _token(bob), "bash", f"echo {secret} > ~/secret.txt")
        found = run_in_kernel(
            _server_url(alice),
            _token(alice),
            "bash",
            f"grep -rl {secret} / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | wc -l",
        )
        assert found.strip() == "0"
        # Nor through bob's server with alice's token.
        response = httpx.get(
            f"{_server_url(bob)}/api/contents/secret.txt",
            headers=alice.client.headers,
            follow_redirects=False,
        )
        assert response.status_code in (302, 403, 404)
        assert secret not in response.text
    finally:
        for hub in people:
            for server in list(hub.servers()):
                hub.stop(server)


def test_only_the_allowed_image_runs(person: Hub) -> None:
    refused = person.client.post(
        f"/users/{person.user.name}/server", json={"image": "debian:bookworm"}
    )
    assert refused.status_code == 400
    assert "not in allowed list" in refused.json()["message"]
    assert person.servers() == {}


def test_jupyterlab_loads_in_chromium(person: Hub, docker_platform: Platform) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, sign_in

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        sign_in(page, docker_platform.url, person.user.name, person.user.password)
        started = time.monotonic()
        page.get_by_text("Start My Server").click()
        page.wait_for_url(f"**/user/{person.user.name}/lab**", timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Bash").first).to_be_visible(timeout=60_000)
        print(f"click to JupyterLab: {time.monotonic() - started:.1f}s")
        page.screenshot(path=artifact_path("jupyterlab-docker.png"))
        browser.close()


def test_volume_names_follow_user_and_server(person: Hub, docker_engine: Any) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    mounts = _container(docker_engine, person).attrs["Mounts"]
    (home,) = [m for m in mounts if m["Destination"] == "/home/jovyan"]
    assert home["Name"] == f"datazentr-home-{person.user.name}"
    assert Path(home["Destination"]) == Path("/home/jovyan")


def test_the_budget_stops_a_running_container(
    person: Hub, docker_engine: Any, admin_api: httpx.Client
) -> None:
    assert admin_api.put("/admin/plans/tiny", json=TINY_PLAN).status_code == 200
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    assert (
        admin_api.put(
            f"/admin/users/{person.user.name}/plan", json={"plan_code": "tiny"}
        ).status_code
        == 200
    )
    deadline = time.monotonic() + 30
    running = {"name": f"jupyter-{person.user.name}", "status": "running"}
    # Stopped for the engine (no longer running) and for the hub (no server listed).
    while docker_engine.client.containers.list(filters=running) or person.servers():
        assert time.monotonic() < deadline, "the container kept running past the budget"
        time.sleep(0.5)
    (session,) = person.usage()["sessions"]
    assert session["end_reason"] == "quota"
    refused = person.start()
    assert refused.status_code == 403
    assert "Tiny plan" in refused.json()["message"]


def test_a_returning_user_resumes_the_paused_server(person: Hub, docker_engine: Any) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    url, token = _server_url(person), _token(person)
    kernel = start_kernel(url, token, "python3")
    execute(url, token, kernel, "x = 41")
    first = _container(docker_engine, person).id
    person.stop()
    paused = docker_engine.client.containers.get(first)
    assert paused.status == "paused"  # frozen, not removed

    started = time.monotonic()
    assert person.start().status_code in (200, 201, 202)
    person.wait_ready()
    returned_in = time.monotonic() - started
    assert _container(docker_engine, person).id == first
    assert execute(url, token, kernel, "print(x + 1)").strip() == "42"  # the kernel lived on
    print(f"returning user: server ready {returned_in:.2f}s after the request")
    sessions = person.usage()["sessions"]
    assert len(sessions) == 2
    assert sessions[0]["ended_at"] is not None  # paused time is free


def test_a_plan_change_starts_a_fresh_container(
    person: Hub, docker_engine: Any, admin_api: httpx.Client
) -> None:
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    first = _container(docker_engine, person).id
    person.stop()
    assert (
        admin_api.put(
            f"/admin/users/{person.user.name}/plan", json={"plan_code": "student"}
        ).status_code
        == 200
    )
    assert person.start().status_code in (201, 202)
    person.wait_ready()
    container = _container(docker_engine, person)
    assert container.id != first
    assert container.attrs["HostConfig"]["Memory"] == 2048 * 1024 * 1024  # the student plan
