"""What this machine does right now without jobtui: the yardsticks `bench/quick.py` measures beside each
of its figures, in the same run, so that a slow or busy machine is not read as a regression of jobtui.

- `spawn`: a bare 2-thread `subprocess.run(["/bin/true"])` loop (bench/peers.py's), in spawns a second;
- `sqlite`: the stdlib `sqlite3` writing a job's rows as the engine does (WAL, synchronous=FULL, a commit
  per batch of 20 jobs), in jobs a second;
- `postgresql`: the same rows through psycopg on the given database, in jobs a second;
- `cpu`: a fixed pure-Python workload (dicts, strings, arithmetic), in seconds, best of three.

    python bench/calibration.py [--pg-db URL]

Prints each as `name=value` on one line.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers import spawn_rate

BATCH = 20
SCHEMA = (
    "CREATE TABLE yardstick_jobs"
    " (id INTEGER PRIMARY KEY, name TEXT, status TEXT, step TEXT, progress INTEGER)",
    "CREATE TABLE yardstick_audit (id INTEGER PRIMARY KEY, job_id INTEGER, action TEXT, who TEXT, at REAL)",
)
INSERT_JOB = "INSERT INTO yardstick_jobs (id, name, status, step, progress) VALUES (?, ?, 'READY', 'INIT', 0)"
ADVANCE_JOB = "UPDATE yardstick_jobs SET status = ?, step = ?, progress = ? WHERE id = ?"
INSERT_AUDIT = "INSERT INTO yardstick_audit (job_id, action, who, at) VALUES (?, ?, 'engine', ?)"


def _write_jobs(
    execute: Callable[[str, tuple[object, ...]], object], commit: Callable[[], None], jobs: int
) -> float:
    started = time.perf_counter()
    for job_id in range(1, jobs + 1):
        execute(INSERT_JOB, (job_id, f"job-{job_id}"))
        execute(ADVANCE_JOB, ("RUNNING", "RUN", 50, job_id))
        execute(INSERT_AUDIT, (job_id, "start", time.time()))
        execute(ADVANCE_JOB, ("FINISHED", "END", 100, job_id))
        execute(INSERT_AUDIT, (job_id, "finish", time.time()))
        if job_id % BATCH == 0:
            commit()
    commit()
    return jobs / (time.perf_counter() - started)


def sqlite_rate(jobs: int = 2000) -> float:
    with tempfile.TemporaryDirectory(prefix="jobtui-calibration-") as scratch:
        conn = sqlite3.connect(Path(scratch) / "calibration.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute("BEGIN")

            def commit() -> None:
                conn.execute("COMMIT")
                conn.execute("BEGIN")

            rate = _write_jobs(conn.execute, commit, jobs)
            conn.execute("COMMIT")
            return rate
        finally:
            conn.close()


def postgresql_rate(url: str, jobs: int = 1000) -> float:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for statement in SCHEMA:
            conn.execute(statement.replace("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY", 1))
        conn.commit()
        cursor = conn.cursor()

        def execute(sql: str, params: tuple[object, ...]) -> object:
            return cursor.execute(sql.replace("?", "%s"), params)

        rate = _write_jobs(execute, conn.commit, jobs)
        for table in ("yardstick_audit", "yardstick_jobs"):
            conn.execute(f"DROP TABLE {table}")
        conn.commit()
        return rate


def _cpu_work() -> int:
    counts: dict[str, int] = {}
    total = 0
    for n in range(200_000):
        key = f"k{n % 997}"
        counts[key] = counts.get(key, 0) + n
        total += (n * n) % 7
    return total + len(counts)


def cpu_seconds(repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        _cpu_work()
        best = min(best, time.perf_counter() - started)
    return best


def measure(name: str, pg_url: str | None = None) -> float:
    """The yardstick `name` now (`pg_url`: the database the `postgresql` one writes to)."""
    if name == "spawn":
        return spawn_rate(400, 2)
    if name == "sqlite":
        return sqlite_rate()
    if name == "postgresql":
        if pg_url is None:
            raise ValueError("the postgresql yardstick needs a database URL")
        return postgresql_rate(pg_url)
    if name == "cpu":
        return cpu_seconds()
    raise ValueError(f"no yardstick named {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg-db", help="a PostgreSQL URL for the postgresql yardstick")
    args = parser.parse_args()
    names = ["spawn", "sqlite", "cpu"] + (["postgresql"] if args.pg_db else [])
    print(" ".join(f"{name}={measure(name, args.pg_db):.4g}" for name in names))


if __name__ == "__main__":
    main()
