"""Fixtures of the tests that need a real Docker engine: the engine and the single-user image.

A missing Docker engine fails these tests (CI installs docker.io through `make system-deps`).
The first test that needs the engine or the image gets a longer timeout: it may pay for
building the base and single-user images (a few minutes once; later runs reuse them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.docker_images import ImageBuildError, ensure_singleuser_image
from tests.support.artifacts import artifact_path
from tests.support.docker_engine import (
    DockerEngine,
    DockerEngineError,
    start_docker_engine,
    stop_docker_engine,
)

IMAGE_BUILD_TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "docker_engine" in fixtures or "singleuser_image" in fixtures:
            item.add_marker(pytest.mark.timeout(IMAGE_BUILD_TIMEOUT))
            return


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """dockerd on a private socket (tests/support/docker_engine.py), stopped by PID at the end."""
    try:
        engine = start_docker_engine()
    except DockerEngineError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield engine
    finally:
        stop_docker_engine(engine)


@pytest.fixture(scope="session")
def singleuser_image(docker_engine: DockerEngine) -> str:
    """The single-user image's tag; built on first use, reused while its sources are unchanged."""
    log_path = artifact_path("singleuser-image-build.log")
    lines: list[str] = []
    with log_path.open("w") as log:

        def progress(line: str) -> None:
            lines.append(line)
            log.write(line + "\n")
            log.flush()

        try:
            return ensure_singleuser_image(docker_engine.client, progress)
        except ImageBuildError as error:
            tail = "\n".join(lines[-40:])
            pytest.fail(f"{error}\n{tail}\n(full log: {log_path})", pytrace=False)
