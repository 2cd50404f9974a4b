"""A throwaway PostgreSQL cluster for tests, from the distribution's server binaries.

Debian's ``postgresql-NN`` package ships ``initdb``/``pg_ctl`` under
``/usr/lib/postgresql/NN/bin`` without needing its system service. A private cluster in a
temporary directory, listening on a free loopback port with its socket in that directory,
starts in about a second and cannot clash with anything else on the machine.

Also home to URL helpers that work against any server (local, container or external), such as
creating a fresh database per test.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from roster_testing._util import free_port, run_coroutine_sync, tail
from roster_testing._watchdog import Watchdog, proc_start_time

POSTGRES_ROOT = Path("/usr/lib/postgresql")
ASYNC_SCHEME = "postgresql+asyncpg"
MAINTENANCE_DB = "postgres"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


# --------------------------------------------------------------------------- URL helpers


def normalize_database_url(url: str) -> str:
    """Rewrite ``postgres://``, ``postgresql://`` or ``postgresql+driver://`` to asyncpg's scheme.

    The services use SQLAlchemy's async engine, which needs ``postgresql+asyncpg``; people and
    CI systems tend to hand over plain libpq URLs.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("postgres", "postgresql") and not scheme.startswith("postgresql+"):
        raise ValueError(f"not a PostgreSQL URL: {redact(url)}")
    return urlunsplit(parts._replace(scheme=ASYNC_SCHEME))


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database ``name`` (query string kept)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    """The database a URL points at."""
    return urlsplit(url).path.lstrip("/")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for logs and reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _libpq_dsn(url: str, database: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg, without SQLAlchemy-specific query options."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, f"/{database}", "", ""))


def _check_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")


async def acreate_database(url: str, name: str) -> str:
    """Create an empty database ``name`` on the server of ``url``; return its asyncpg URL.

    Connects to the ``postgres`` maintenance database, so ``url`` may point at any database of
    the server (even one that a test keeps busy).
    """
    _check_name(name)
    conn = await asyncpg.connect(_libpq_dsn(url, MAINTENANCE_DB), timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return normalize_database_url(with_database(url, name))


async def adrop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url``, disconnecting its sessions first."""
    _check_name(name)
    conn = await asyncpg.connect(_libpq_dsn(url, MAINTENANCE_DB), timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def create_database(url: str, name: str) -> str:
    """Synchronous :func:`acreate_database`, safe to call while an event loop runs."""
    return run_coroutine_sync(lambda: acreate_database(url, name))


def drop_database(url: str, name: str) -> None:
    """Synchronous :func:`adrop_database`, safe to call while an event loop runs."""
    run_coroutine_sync(lambda: adrop_database(url, name))


# --------------------------------------------------------------------------- local cluster


def find_bin_dir() -> Path:
    """Newest ``/usr/lib/postgresql/NN/bin`` holding ``initdb``, else ``pg_ctl`` on PATH."""
    candidates: list[tuple[float, Path]] = []
    if POSTGRES_ROOT.is_dir():
        for entry in POSTGRES_ROOT.iterdir():
            try:
                version = float(entry.name)
            except ValueError:
                continue
            if (entry / "bin" / "initdb").is_file():
                candidates.append((version, entry / "bin"))
    if candidates:
        return max(candidates)[1]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and (Path(pg_ctl).parent / "initdb").is_file():
        return Path(pg_ctl).parent
    raise RuntimeError(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: apt-get install postgresql"
    )


class PostgresStartError(RuntimeError):
    """The cluster did not come up; the message carries the tail of its log."""


class LocalPostgres:
    """A private PostgreSQL cluster in a temporary directory, on a free loopback port.

    ``initdb`` refuses to run as root, so as root every server command runs as the ``postgres``
    OS user (via ``runuser``) in a directory owned by it. Authentication is ``trust`` over
    loopback and durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``):
    it is a test server, and speed matters more than crash safety.
    """

    def __init__(
        self,
        *,
        database: str = "roster",
        bin_dir: Path | None = None,
        max_connections: int = 200,
        start_timeout: float = 30.0,
        durable_commits: bool = False,
    ) -> None:
        _check_name(database)
        self.database = database
        self.bin_dir = bin_dir or find_bin_dir()
        self.max_connections = max_connections
        self.start_timeout = start_timeout
        # Off by default (speed). A fault run that crashes the server needs it on: with
        # synchronous_commit off, a commit is acknowledged before its WAL leaves shared memory,
        # and an immediate stop loses it (the fault run saw acknowledged creates vanish).
        # fsync stays off: the OS does not crash, so WAL written to it survives.
        self.durable_commits = durable_commits
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.server_version = ""
        self.pid: int | None = None
        self._watchdog: Watchdog | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def server_url(self) -> str:
        """URL of the maintenance database (``postgres``)."""
        if self.port is None:
            raise RuntimeError("LocalPostgres is not started")
        return f"{ASYNC_SCHEME}://postgres@127.0.0.1:{self.port}/{MAINTENANCE_DB}"

    @property
    def url(self) -> str:
        """SQLAlchemy async URL of the ``roster`` database."""
        return with_database(self.server_url, self.database)

    @property
    def description(self) -> str:
        """One human line naming what runs where, for test reports."""
        return (
            f"PostgreSQL {self.server_version} (local cluster from {self.bin_dir}, "
            f"pid {self.pid}) at 127.0.0.1:{self.port}/{self.database}"
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def _as_owner(self, *argv: str) -> list[str]:
        """Run a server binary as the cluster owner: ``postgres`` when we are root."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self._as_owner(*argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",  # runuser keeps our cwd, which the postgres user may not be able to enter
        )
        if result.returncode != 0:
            log = tail(self.base_dir / "server.log") if self.base_dir else ""
            raise PostgresStartError(
                f"{' '.join(argv)} failed (exit {result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n--- server.log ---\n{log}"
            )
        return result

    def start(self) -> Self:
        """initdb, start the server, create the database. Retries if the port was taken."""
        if self.pid is not None:
            return self
        for attempt in range(3):
            try:
                self._start_once()
                return self
            except PostgresStartError as error:
                self.stop()
                if attempt == 2 or "could not bind" not in str(error):
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _start_once(self) -> None:
        self._watchdog = Watchdog()
        base = Path(tempfile.mkdtemp(prefix="roster-pg-"))
        self.base_dir = base
        self._watchdog.remove_on_exit(base)
        atexit.register(self.stop)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        base.chmod(0o700)
        data = base / "data"
        pg_ctl = str(self.bin_dir / "pg_ctl")
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        self.port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# roster_testing: private test cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{base}'\n"
                f"max_connections = {self.max_connections}\n"
                "fsync = off\n"
                f"synchronous_commit = {'on' if self.durable_commits else 'off'}\n"
                "full_page_writes = off\n"
            )
        self._watchdog.run_on_exit(
            self._as_owner(pg_ctl, "-D", str(data), "stop", "-m", "immediate", "-w", "-t", "20")
        )
        self._run(
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            str(int(self.start_timeout)),
            "start",
            timeout=self.start_timeout + 10,
        )
        pid_file = data / "postmaster.pid"
        self.pid = int(pid_file.read_text().split("\n", 1)[0])
        self._watchdog.kill_on_exit(self.pid, group=False, grace=10.0)
        version = subprocess.run(
            [str(self.bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        self.server_version = version.stdout.strip().split(") ", 1)[-1].split(" ", 1)[0]
        create_database(self.server_url, self.database)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` in this cluster and return its URL."""
        return create_database(self.server_url, name)

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: every backend ends at once, no checkpoint; the next
        start replays the WAL, as after a power cut of the server process (for fault runs)."""
        if self.base_dir is None:
            raise RuntimeError("LocalPostgres is not started")
        data = str(self.base_dir / "data")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", data, "stop", "-m", "immediate", "-w")

    def restart(self) -> None:
        """Start the cluster again after :meth:`crash` (crash recovery), same port and data."""
        if self.base_dir is None or self._watchdog is None:
            raise RuntimeError("LocalPostgres is not started")
        data = self.base_dir / "data"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.base_dir / "server.log"),
            "-w",
            "-t",
            str(int(self.start_timeout)),
            "start",
            timeout=self.start_timeout + 10,
        )
        self.pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        self._watchdog.kill_on_exit(self.pid, group=False, grace=10.0)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` and delete the cluster. Idempotent."""
        atexit.unregister(self.stop)
        base, self.base_dir = self.base_dir, None
        if base is not None:
            data = base / "data"
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    self._as_owner(
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(data),
                        "stop",
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                    ),
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=40,
                    check=False,
                    cwd="/",
                )
        if self.pid is not None and proc_start_time(self.pid) is not None:
            # pg_ctl could not stop it (or was never reached): do not leave a server behind.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
        self.pid = None
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
