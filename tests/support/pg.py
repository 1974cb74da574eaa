"""A throwaway PostgreSQL cluster for the test session: initdb + pg_ctl from the installed server binaries,
in a temp dir, loopback only, on a free port. initdb refuses root, so as root it runs as `postgres`."""

from __future__ import annotations

import contextlib
import os
import pwd
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

TEMPLATE = "jobtui_template"


def _find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def missing_reason() -> str | None:
    """Why a cluster cannot be started here, or None."""
    for name in ("initdb", "pg_ctl"):
        if _find_bin(name) is None:
            return f"PostgreSQL server binary {name} not found (install PostgreSQL 15 to run these tests)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb to run as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    def __init__(self, durable: bool = False, spares: int = 0) -> None:
        """`durable`: fsync and full page writes on, as a production server (benchmarks against peers);
        the test suite's cluster turns them off for speed. `spares`: databases a thread keeps created
        ahead of `new_database` (a test waits tens of milliseconds for a CREATE DATABASE, hundreds when
        the machine is busy); benchmarks keep none, as nothing must run beside what they measure."""
        self.durable = durable
        self._spares: queue.Queue[str | BaseException] = queue.Queue(maxsize=max(spares, 1))
        self._spare_maker: threading.Thread | None = None
        self._spares_wanted = spares > 0
        self.dir = Path(tempfile.mkdtemp(prefix="jobtui-pg-"))
        self.port = _free_port()
        self.user = "postgres"
        self._template_ready = False
        self._admin: Any = None  # the connection databases are created on (`_create`)
        self._admin_lock = threading.Lock()
        self._as_other = os.geteuid() == 0
        if self._as_other:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as_other:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        initdb = _find_bin("initdb")
        assert initdb
        self._run(initdb, "-D", str(self.dir / "data"), "-A", "trust", "-U", self.user, "--no-sync")
        self.start_server()

    def stop_server(self) -> None:
        pg_ctl = _find_bin("pg_ctl")
        assert pg_ctl
        self._run(pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        data = self.dir / "data"
        pg_ctl = _find_bin("pg_ctl")
        assert pg_ctl
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        pg_ctl = _find_bin("pg_ctl")
        with contextlib.suppress(Exception):
            assert pg_ctl
            self._run(pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        # A database a test: by the end of a run over a gigabyte in tens of thousands of files, whose
        # removal held the worker (and so the run) for seconds. Removed behind it, by a process of its own.
        os.posix_spawnp("rm", ["rm", "-rf", "--", str(self.dir)], os.environ, setsid=True)

    @property
    def server_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}"

    def url_of(self, name: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def _create(self, name: str, template: str | None = None) -> None:
        """On one connection kept for them: a connection costs the server ~10 ms of CPU, a quarter of what
        the copy of the template costs, and every PostgreSQL test asks for a database. A server restarted
        by a test dropped it: connected again, once."""
        import psycopg

        statement = f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
        with self._admin_lock:
            for attempt in (1, 2):
                if self._admin is None or self._admin.closed:
                    self._admin = psycopg.connect(f"{self.server_url}/postgres", autocommit=True)
                try:
                    self._admin.execute(statement)
                    return
                except psycopg.OperationalError:
                    self._admin.close()
                    self._admin = None
                    if attempt == 2:
                        raise

    def new_database(self) -> str:
        """A fresh database with the schema at head; returns its SQLAlchemy URL.

        Copying a migrated template is much faster than running the migrations for every test.
        """
        if not self._template_ready:
            from jobtui.engine.db.store import Store

            self._create(TEMPLATE)
            Store(self.url_of(TEMPLATE), log_dir=self.dir / "template-logs").engine.dispose()
            self._template_ready = True
        if not self._spares_wanted:
            return self._copy_of_template()
        if self._spare_maker is None:
            self._spare_maker = threading.Thread(target=self._make_spares, name="pg-spares", daemon=True)
            self._spare_maker.start()
        spare = self._spares.get(timeout=120)
        if isinstance(spare, BaseException):
            self._spares.put(spare)  # for every later test too: the thread has stopped
            raise RuntimeError("the thread copying the template database stopped") from spare
        return spare

    def _copy_of_template(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self._create(name, TEMPLATE)
        return self.url_of(name)

    def _make_spares(self) -> None:
        """Runs until the process ends (a daemon thread), waiting while the queue is full; once the server
        is gone it hands its error to the test that asks next."""
        while True:
            try:
                spare: str | BaseException = self._copy_of_template()
            except Exception as exc:
                self._spares.put(exc)
                return
            self._spares.put(spare)


class CutOff:
    """A login role of its own on `cluster`, for one process's connections (one host's engine, one
    dashboard): `cut()` makes the database unreachable to it (the role may no longer log in and its
    connections are terminated, as a restart or a broken link does), `restore()` lets it back in. The
    others, on the cluster's own user, carry on."""

    def __init__(self, cluster: PgCluster, url: str) -> None:
        self.cluster = cluster
        self.role = "cut_" + uuid.uuid4().hex[:12]
        self._admin(f"CREATE ROLE {self.role} SUPERUSER LOGIN")
        self.url = url.replace(f"//{cluster.user}@", f"//{self.role}@", 1)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.cluster.server_url}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def cut(self) -> None:
        self._admin(f"ALTER ROLE {self.role} NOLOGIN")
        self._admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'")

    def restore(self) -> None:
        self._admin(f"ALTER ROLE {self.role} LOGIN")
