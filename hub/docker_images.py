"""The single-user image: its content-addressed tag, and building it (and its base) on demand.

``SINGLEUSER_IMAGE`` names the image built from ``images/singleuser/Dockerfile`` by a hash of
everything that goes into it (the Dockerfile and its files, ``kernels/``, ``extensions/`` and
the lock ``constraints.txt``), so a change to any of them gives a new tag that
:func:`ensure_singleuser_image` builds, while an unchanged tree reuses the image on the engine.
``datazentr/singleuser:latest`` always points at the newest build.

Without registry access the base image ``datazentr/base:bookworm`` is made by
``images/base/build-base.sh`` (debootstrap; needs root) and imported through the Docker API.

CLI (``make image``)::

    python -m hub.docker_images build [--force] [--force-base] [--docker-host URL]
    python -m hub.docker_images tag        # prints SINGLEUSER_IMAGE
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import RequestException

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "datazentr/base:bookworm"
BASE_SCRIPT = PROJECT_ROOT / "images" / "base" / "build-base.sh"
# The image config `build-base.sh` gives its import; keep the two in sync.
BASE_IMAGE_CHANGES = ["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]']
SINGLEUSER_REPOSITORY = "datazentr/singleuser"
SINGLEUSER_LATEST = f"{SINGLEUSER_REPOSITORY}:latest"
SINGLEUSER_DOCKERFILE = "images/singleuser/Dockerfile"
CONTENT_HASH_LABEL = "io.datazentr.content-hash"
# What goes into the single-user image; the tag is a hash of these files' paths and bytes.
IMAGE_SOURCES = ("images/singleuser", "kernels", "extensions", "constraints.txt")
# Never part of an image (see .dockerignore), so never part of the hash either.
_IGNORED_PARTS = {"__pycache__", "node_modules", ".ipynb_checkpoints", ".mypy_cache"}
_IGNORED_SUFFIXES = (".pyc", ".egg-info")

Progress = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says why and what to do."""


def _source_files(root: Path) -> Iterator[Path]:
    for name in IMAGE_SOURCES:
        top = root / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            relative = path.relative_to(root)
            if not path.is_file() or _IGNORED_PARTS.intersection(relative.parts):
                continue
            if any(part.endswith(_IGNORED_SUFFIXES) for part in relative.parts):
                continue
            yield path


def content_hash(root: Path = PROJECT_ROOT, base_image: str = BASE_IMAGE) -> str:
    """12 hex digits of SHA-256 over the base image name and every image source file."""
    digest = hashlib.sha256(f"base={base_image}\n".encode())
    for path in _source_files(root):
        digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def singleuser_image_tag(root: Path = PROJECT_ROOT, base_image: str = BASE_IMAGE) -> str:
    """``datazentr/singleuser:<content hash>``; the ``latest`` alias without the sources."""
    if not (root / SINGLEUSER_DOCKERFILE).is_file():
        return SINGLEUSER_LATEST
    return f"{SINGLEUSER_REPOSITORY}:{content_hash(root, base_image)}"


SINGLEUSER_IMAGE = singleuser_image_tag()


def docker_client(docker_host: str | None = None, timeout: float = 120) -> docker.DockerClient:
    """A client for ``docker_host`` (``unix://…``, ``tcp://…``), else for ``DOCKER_HOST``."""
    if docker_host:
        return docker.DockerClient(base_url=docker_host, version="auto", timeout=int(timeout))
    return docker.from_env(version="auto", timeout=int(timeout))


def docker_available(docker_host: str | None, timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping at ``docker_host`` (or ``DOCKER_HOST``)."""
    host = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False
    try:
        client = docker_client(host, timeout=max(1.0, timeout))
    except (DockerException, RequestException, OSError):
        return False
    try:
        return bool(client.ping())
    except (DockerException, RequestException, OSError):
        return False
    finally:
        client.close()


def image_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


def build_base_image(
    client: docker.DockerClient, progress: Progress, tag: str = BASE_IMAGE
) -> None:
    """Run ``build-base.sh --tar`` and import the root filesystem as ``tag``."""
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"the base image {tag} is missing and building it needs root (debootstrap): "
            f"run `sudo make image` once, or set a BASE_IMAGE your engine can pull"
        )
    repository, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory(prefix="datazentr-base-") as workdir:
        tarball = Path(workdir) / "rootfs.tar"
        command = ["bash", str(BASE_SCRIPT), "--tar", str(tarball), "--tag", tag]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                progress(line.rstrip())
        if process.returncode != 0:
            raise ImageBuildError(f"{BASE_SCRIPT.name} failed (exit {process.returncode})")
        progress(f"importing {tarball.stat().st_size // 2**20} MiB as {tag}")
        client.api.import_image(
            src=str(tarball), repository=repository, tag=version, changes=BASE_IMAGE_CHANGES
        )
    progress(f"base image {tag} ready")


def build_singleuser_image(
    client: docker.DockerClient,
    progress: Progress,
    tag: str,
    base_image: str = BASE_IMAGE,
    root: Path = PROJECT_ROOT,
) -> str:
    """Build the Dockerfile with the repository as context; return the image ID."""
    stream: Iterator[dict[str, Any]] = client.api.build(
        path=str(root),
        dockerfile=SINGLEUSER_DOCKERFILE,
        tag=tag,
        buildargs={"BASE_IMAGE": base_image},
        labels={CONTENT_HASH_LABEL: tag.rpartition(":")[2]},
        # pip in RUN steps needs PyPI; test engines run with --bridge=none.
        network_mode="host",
        pull=False,
        rm=True,
        forcerm=True,
        decode=True,
        timeout=3600,
    )
    image_id = ""
    for chunk in stream:
        if "error" in chunk:
            raise ImageBuildError(f"building {tag} failed: {str(chunk['error']).strip()}")
        for line in str(chunk.get("stream", "")).splitlines():
            if line.strip():
                progress(line.rstrip())
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            image_id = str(aux["ID"])
    if not image_id:
        image_id = str(client.images.get(tag).id)
    return image_id


def _prune_old_singleuser_tags(client: docker.DockerClient, keep: str, progress: Progress) -> None:
    """Untag older content-hash tags; images a container still uses stay (no force)."""
    for image in client.images.list(name=SINGLEUSER_REPOSITORY):
        for old in image.tags:
            if old in (keep, SINGLEUSER_LATEST):
                continue
            try:
                client.images.remove(old)
                progress(f"removed the outdated {old}")
            except APIError as error:
                log.info("keeping %s: %s", old, error.explanation)
    # Earlier builds whose tag a rebuild took over (only images of ours: they carry the label).
    with contextlib.suppress(APIError):
        client.images.prune(filters={"dangling": True, "label": CONTENT_HASH_LABEL})


def ensure_singleuser_image(
    client: docker.DockerClient,
    progress: Progress,
    *,
    base_image: str = BASE_IMAGE,
    force: bool = False,
    force_base: bool = False,
) -> str:
    """The single-user image's tag, building the base and the image first when missing.

    Progress lines (the base script's and ``docker build``'s output) go to ``progress``.
    With the default base, a missing base is built with ``build-base.sh`` (needs root);
    another base is used as the engine has it (or pulls it, where a registry is reachable).
    """
    tag = singleuser_image_tag(base_image=base_image)
    if not force and not force_base and image_exists(client, tag):
        client.images.get(tag).tag(SINGLEUSER_REPOSITORY, "latest")
        return tag
    started = time.monotonic()
    if base_image == BASE_IMAGE and (force_base or not image_exists(client, base_image)):
        progress(f"building the base image {base_image} (debootstrap, about a minute)")
        build_base_image(client, progress, base_image)
    progress(f"building {tag} from {SINGLEUSER_DOCKERFILE} (a few minutes the first time)")
    image_id = build_singleuser_image(client, progress, tag, base_image)
    client.api.tag(image_id, SINGLEUSER_REPOSITORY, "latest")
    _prune_old_singleuser_tags(client, tag, progress)
    progress(f"{tag} ready in {time.monotonic() - started:.0f} s")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.docker_images", description="Build the single-user image."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the base and single-user images when missing")
    build.add_argument("--force", action="store_true", help="rebuild the single-user image")
    build.add_argument("--force-base", action="store_true", help="rebuild the base image too")
    build.add_argument("--base-image", default=BASE_IMAGE, help="FROM image (default: %(default)s)")
    build.add_argument("--docker-host", default=None, help="engine URL (default: $DOCKER_HOST)")
    sub.add_parser("tag", help="print the single-user image's tag")
    args = parser.parse_args(argv)

    if args.command == "tag":
        print(SINGLEUSER_IMAGE)
        return 0
    if not docker_available(args.docker_host):
        where = args.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        print(f"no Docker engine answers at {where} (set DOCKER_HOST)", file=sys.stderr)
        return 1

    def progress(line: str) -> None:
        print(line, flush=True)

    client = docker_client(args.docker_host)
    try:
        tag = ensure_singleuser_image(
            client,
            progress,
            base_image=args.base_image,
            force=args.force,
            force_base=args.force_base,
        )
    except (ImageBuildError, DockerException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
