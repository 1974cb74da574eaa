"""What the engine benchmarks share: a throwaway database (SQLite file, or a database in a throwaway
PostgreSQL cluster), `jobtui daemon` processes, and the one-line-per-figure output.

A figure line is `name value unit key=value ...` (the parameters); a script's last line is `key=value ...`
for bench/quick.py to compare against the README.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobtui.engine.db.store import Store
    from jobtui.engine.worker.runner import OpContext

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BACKENDS = ("sqlite", "postgresql")


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def figure(name: str, value: float, unit: str, params: str, digits: int = 3) -> None:
    print(f"{name} {value:.{digits}f} {unit} {params}".rstrip(), flush=True)


def params_of(**values: object) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        help="database URL to use as is; the words sqlite or postgresql mean a throwaway one of that kind "
        "(the default is a throwaway database of --backend)",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="sqlite",
        help="kind of throwaway database when --db is not a URL: a SQLite file, or a database in a "
        "PostgreSQL cluster started (and removed) for this run",
    )


@contextlib.contextmanager
def database(db: str | None, backend: str, scratch: Path) -> Iterator[str]:
    """The URL to benchmark on: `db` when it is a URL, else a throwaway database of `backend` (or of the
    kind `db` names), removed on exit."""
    if db and db not in BACKENDS:
        yield db
        return
    kind = db or backend
    if kind == "sqlite":
        yield f"sqlite:///{scratch}/bench.db"
        return
    with pg_cluster() as new_database:
        yield new_database()


def loaded_sqlite(jobs: int, name: str) -> str:
    """The URL of a throwaway SQLite database of `jobs` bulk-loaded historical jobs (every status, tasks,
    envelopes), removed at exit: a million jobs is 2.4 GB. Prints how long the load took."""
    from jobtui.demo.bulk import bulk_load
    from jobtui.engine.db.store import Store

    work = tempfile.mkdtemp(prefix="jobtui-bench-")
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    url = f"sqlite:///{work}/{name}.db"
    began = time.perf_counter()
    bulk_load(Store(url), jobs)
    print(f"bulk_load_s {time.perf_counter() - began:.2f} s jobs={jobs}")
    return url


@contextlib.contextmanager
def scratch_database(db: str | None, backend: str) -> Iterator[tuple[str, Path]]:
    """(URL, scratch directory) for one run: `database` in a temporary directory removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-"))
    try:
        with database(db, backend, scratch) as url:
            yield url, scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def running_engines(
    store: Store, url: str, logs: Path, workers: int, engines: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The engines under test: one in this process (engines == 1), else `engines` daemon processes
    (yielded, so a run can watch them); all stopped on exit."""
    from jobtui.engine.worker.loop import Engine

    stop = threading.Event()
    engine: Engine | None = None
    thread: threading.Thread | None = None
    daemons: list[subprocess.Popen[bytes]] = []
    if engines == 1:
        engine = Engine(store, workers=workers)
        thread = threading.Thread(target=engine.run, args=(stop,), daemon=True)
        thread.start()
    else:
        daemons = [start_daemon(url, logs, "--workers", str(workers)) for _ in range(engines)]
    try:
        yield daemons
    finally:
        stop.set()
        if engine is not None:
            engine.wake()  # out of its idle wait at once
        stop_daemons(daemons)
        if thread is not None:
            thread.join(timeout=30)


@contextlib.contextmanager
def pg_cluster(durable: bool = False) -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL cluster (tests/support/pg.py's, loopback only; fsync off unless `durable`);
    yields a function that creates a fresh database in it and returns its URL. The cluster is stopped and
    removed on exit."""
    from tests.support.pg import PgCluster, missing_reason

    reason = missing_reason()
    if reason is not None:
        raise SystemExit(f"cannot start a throwaway PostgreSQL cluster: {reason}")
    cluster = PgCluster(durable=durable)
    # Stop the cluster on SIGTERM too (quick.py's timeout, a CI cancel): the server outlives us otherwise.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        cluster.start()
        yield cluster.new_database
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: daemons are stopped, the scratch directory and cluster removed."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def daemon_env(log_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JOBTUI_LOG_DIR"] = str(log_dir)
    env.pop("JOBTUI_POLICY", None)
    return env


def start_daemon(url: str, log_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A `jobtui daemon` process on `url` (extra: --workers, --heartbeat, --lease); its stderr goes to
    `log_dir/daemon-<pid>.err` (see daemon_errors)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=log_dir, prefix="daemon-", suffix=".err", delete=False) as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jobtui.cli", "daemon", "--db", url, *extra],
            env=daemon_env(log_dir),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    os.replace(err.name, log_dir / f"daemon-{proc.pid}.err")
    return proc


def explained(exc: SystemExit, more: str) -> SystemExit:
    """A failure (a message) with more said about it; an exit code (SIGTERM) as it is."""
    return SystemExit(f"{exc.code}\n{more}") if isinstance(exc.code, str) else exc


def daemon_errors(log_dir: Path, lines: int = 20) -> str:
    """The last lines of each daemon's stderr, for a failure message."""
    out = []
    for path in sorted(log_dir.glob("daemon-*.err")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"--- {path.name}\n" + "\n".join(tail))
    return "\n".join(out)


def stop_daemons(daemons: list[subprocess.Popen[bytes]], now: bool = False, timeout: float = 30) -> None:
    """SIGTERM: a daemon finishes its ops in flight and exits; `now`: a second SIGTERM stops it at once
    (ops in flight are left for a later engine). SIGKILL for what is left after `timeout`."""
    for proc in daemons:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
    if now:
        time.sleep(0.2)
        for proc in daemons:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
    for proc in daemons:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.01) -> float:
    """Poll until `predicate` holds; returns the perf_counter time it was first seen to hold."""
    deadline = time.perf_counter() + timeout
    while True:
        if predicate():
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll_s)


STARTS_ENV = "JOBTUI_BENCH_STARTS"


def record_start(context: OpContext) -> None:
    """A `call` op that appends `<job id> <wall-clock time>` to the file named by $JOBTUI_BENCH_STARTS
    (one write with O_APPEND: safe from several threads and engine processes)."""
    line = f"{context.job_id} {time.time():.6f}\n".encode()
    fd = os.open(context.env[STARTS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_starts(path: Path) -> dict[int, float]:
    """Each job's first recorded op start (a job whose op ran twice would show up here only once)."""
    starts: dict[int, float] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            job_id, at = line.split()
            starts.setdefault(int(job_id), float(at))
    return starts
