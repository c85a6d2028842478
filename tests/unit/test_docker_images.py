"""The single-user image's content-hash tag and the Docker engine probe (no engine needed)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from hub import docker_images
from hub.docker_images import (
    SINGLEUSER_IMAGE,
    SINGLEUSER_LATEST,
    content_hash,
    docker_available,
    singleuser_image_tag,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of what the image is built from."""
    for name in docker_images.IMAGE_SOURCES:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_the_tag_names_the_current_sources() -> None:
    assert f"datazentr/singleuser:{content_hash()}" == SINGLEUSER_IMAGE
    assert len(content_hash()) == 12


def test_a_change_to_any_source_changes_the_tag(tree: Path) -> None:
    before = singleuser_image_tag(tree)
    for changed in (
        "images/singleuser/Dockerfile",
        "kernels/bash/kernel.json",
        "extensions/__init__.py",
        "constraints.txt",
    ):
        with (tree / changed).open("a") as handle:
            handle.write("\n")
        after = singleuser_image_tag(tree)
        assert after != before, changed
        before = after


def test_caches_and_build_leftovers_do_not_change_the_tag(tree: Path) -> None:
    before = singleuser_image_tag(tree)
    (tree / "extensions" / "__pycache__").mkdir(exist_ok=True)
    (tree / "extensions" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (tree / "extensions" / "datazentr_extensions.egg-info").mkdir()
    (tree / "extensions" / "datazentr_extensions.egg-info" / "PKG-INFO").write_text("x")
    assert singleuser_image_tag(tree) == before


def test_another_base_image_is_another_tag(tree: Path) -> None:
    assert singleuser_image_tag(tree, "debian:bookworm-slim") != singleuser_image_tag(tree)


def test_without_the_sources_the_tag_is_latest(tmp_path: Path) -> None:
    assert singleuser_image_tag(tmp_path) == SINGLEUSER_LATEST


def test_no_engine_is_reported_as_none(tmp_path: Path) -> None:
    assert docker_available(f"unix://{tmp_path}/missing.sock") is False
    assert docker_available("tcp://127.0.0.1:9") is False  # nothing listens on discard


def test_an_engine_that_never_answers_is_given_up_on() -> None:
    """A socket that accepts and stays silent (a hung engine) must not hang `make up`:
    the probe's own timeout ends it (pytest's timeout would fail the test otherwise)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        assert docker_available(f"tcp://127.0.0.1:{port}", timeout=0.5) is False
