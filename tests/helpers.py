"""Small helpers shared by the test layers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "test-artifacts"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def artifact_path(name: str) -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR / name


def reachable_by_other_users(path: Path) -> Path:
    """Let other users traverse into ``path`` (tests run as root; Postgres runs as its own
    unprivileged user and must reach its data dir under pytest's private temp dirs)."""
    for directory in (path, *path.parents):
        if directory in (Path("/tmp"), Path("/")):
            break
        directory.chmod(directory.stat().st_mode | 0o001)
    return path


@contextmanager
def loopback_listener() -> Iterator[int]:
    """A server on the host's loopback that sandboxed code will try to reach; yields its
    port and fails at exit if anything connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    reached: list[bool] = []

    def accept() -> None:
        try:
            server.accept()
            reached.append(True)
        except OSError:
            pass  # closed at exit: nothing connected

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
    assert not reached, "sandboxed code reached the host's network"
