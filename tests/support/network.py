"""Loopback ports for the servers the tests start, and a listener that must stay untouched."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        yield int(server.getsockname()[1])
    finally:
        server.close()
    assert not reached, "sandboxed code reached the host's network"
