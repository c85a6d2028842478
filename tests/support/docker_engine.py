"""A private Docker engine for the tests: own dockerd, socket and run dir; the host stays as is.

``dockerd`` runs with ``--iptables=false --bridge=none`` (no docker0, no firewall or forwarding
changes; containers use ``network_mode="host"`` and talk over 127.0.0.1), a socket and exec
root in a fresh temporary directory, and a data root outside it
(``/var/lib/datazentr-test-docker``) so built images are reused by later runs. A lock file
next to the data root serialises test runs on one machine (two daemons must not share a data
root); a daemon left running by a killed run is found by its recorded PID and stopped first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from hub.docker_images import Progress, ensure_singleuser_image

DATA_ROOT = Path("/var/lib/datazentr-test-docker")
LOCK_PATH = DATA_ROOT.with_name(DATA_ROOT.name + ".lock")
PID_RECORD = DATA_ROOT.with_name(DATA_ROOT.name + ".pid")
READY_TIMEOUT = 60.0
LOCK_TIMEOUT = 15 * 60.0
STOP_TIMEOUT = 30.0


class DockerEngineError(RuntimeError):
    """The test Docker engine could not be started or stopped."""


@dataclass
class DockerEngine:
    docker_host: str
    client: docker.DockerClient
    pid: int
    run_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    owns_run_dir: bool = True
    _lock: IO[str] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, run_dir: Path | None = None) -> DockerEngine:
        """Start a test engine (see :func:`start_docker_engine`)."""
        return start_docker_engine(run_dir=run_dir)

    def stop(self) -> None:
        stop_docker_engine(self)

    def singleuser_image(self, progress: Progress = print) -> str:
        """The single-user image on this engine, built first when missing."""
        return ensure_singleuser_image(self.client, progress)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _stop_stale_daemon(data_root: Path) -> None:
    """Stop a dockerd on our data root that a killed test run left behind (by its PID)."""
    try:
        pid = int(PID_RECORD.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        cmdline = []
    is_dockerd = bool(cmdline) and os.path.basename(cmdline[0]) == b"dockerd"
    if is_dockerd and os.fsencode(f"--data-root={data_root}") in cmdline:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    PID_RECORD.unlink(missing_ok=True)


def _acquire_lock(timeout: float) -> IO[str]:
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    handle = LOCK_PATH.open("a+")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise DockerEngineError(
                    f"another test run has held {LOCK_PATH} for {timeout:.0f} s "
                    f"(its Docker engine uses {DATA_ROOT}); wait for it or stop it"
                ) from None
            time.sleep(1)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def start_docker_engine(
    run_dir: Path | None = None,
    data_root: Path = DATA_ROOT,
    timeout: float = READY_TIMEOUT,
    lock_timeout: float = LOCK_TIMEOUT,
) -> DockerEngine:
    """Start dockerd and wait until it answers; fail with a clear message when it cannot.

    Socket, exec root, pidfile and log go to ``run_dir`` (default: a new temporary
    directory, removed at stop; a given one is left to its owner).
    """
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerEngineError(
            "no Docker engine is installed (dockerd not on PATH): "
            "run `make system-deps`, which installs docker.io (CI does this in .ci/run)"
        )
    if os.geteuid() != 0:
        raise DockerEngineError("the test Docker engine needs root to run dockerd")
    lock = _acquire_lock(lock_timeout)
    try:
        _stop_stale_daemon(data_root)
        data_root.mkdir(parents=True, exist_ok=True)
        owns_run_dir = run_dir is None
        if run_dir is None:
            run_dir = Path(tempfile.mkdtemp(prefix="dz-docker-"))
        run_dir.mkdir(parents=True, exist_ok=True)
        socket_path = run_dir / "docker.sock"
        config = run_dir / "daemon.json"
        config.write_text(json.dumps({}))  # never the host's /etc/docker/daemon.json
        log_path = run_dir / "dockerd.log"
        command = [
            dockerd,
            f"--config-file={config}",
            "--iptables=false",
            "--ip-forward=false",
            "--bridge=none",
            f"--host=unix://{socket_path}",
            f"--data-root={data_root}",
            f"--exec-root={run_dir / 'exec'}",
            f"--pidfile={run_dir / 'dockerd.pid'}",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        PID_RECORD.write_text(f"{process.pid}\n")
        docker_host = f"unix://{socket_path}"
        engine = DockerEngine(
            docker_host=docker_host,
            client=docker.DockerClient(base_url=docker_host, version="1.41", timeout=120),
            pid=process.pid,
            run_dir=run_dir,
            log_path=log_path,
            process=process,
            owns_run_dir=owns_run_dir,
            _lock=lock,
        )
    except BaseException:
        lock.close()
        raise
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            tail = engine.log_tail()
            _cleanup(engine)
            raise DockerEngineError(f"dockerd exited with {process.returncode}:\n{tail}")
        if socket_path.exists():
            with contextlib.suppress(DockerException, RequestException, OSError):
                if engine.client.ping():
                    return engine
        if time.monotonic() > deadline:
            tail = engine.log_tail()
            stop_docker_engine(engine)
            raise DockerEngineError(f"dockerd did not answer within {timeout:.0f} s:\n{tail}")
        time.sleep(0.1)


def stop_docker_engine(engine: DockerEngine, timeout: float = STOP_TIMEOUT) -> None:
    """Stop dockerd by its PID and make sure it exited (SIGKILL after ``timeout``)."""
    engine.client.close()
    process = engine.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    exited = process.poll() is not None and not _alive(engine.pid)
    _cleanup(engine)
    if not exited:
        raise DockerEngineError(f"dockerd (pid {engine.pid}) did not exit")


def _cleanup(engine: DockerEngine) -> None:
    if engine.process.poll() is not None:
        PID_RECORD.unlink(missing_ok=True)
        # dockerd leaves its bind mount of the network namespace (exec/netns/default).
        for point in _mounts_under(engine.run_dir):
            subprocess.run(["umount", point], check=False, capture_output=True)
    if engine.owns_run_dir and not _mounts_under(engine.run_dir):
        shutil.rmtree(engine.run_dir, ignore_errors=True)
    if engine._lock is not None:
        engine._lock.close()
        engine._lock = None
