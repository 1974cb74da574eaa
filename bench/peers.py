"""jobtui's drain beside its peers, in the same run: SqliteHuey and a bare spawn loop (and procrastinate on
PostgreSQL when a database URL is given), same number of jobs and workers.

    python bench/peers.py [--jobs N] [--workers K] [--op noop|true] [--pg | --pg-db URL]

The peers come with the `bench` extra (`pip install -e '.[bench]'`); a peer that is not installed is
skipped with a line saying so. This machine is shared and noisy: only the ratios of figures measured side by
side mean anything, so each figure is printed with its ratio to jobtui's.

- jobtui: `bench/engine_drain.py` on a throwaway SQLite file (WAL, synchronous=FULL), full history.
- SqliteHuey: the same N tasks through a huey consumer with K worker threads, WAL, fsync on, results
  stored (huey deletes each task as it runs it: it keeps no history).
- spawn loop (`--op true` only): K threads each running `subprocess.run(["/bin/true"])`, the ceiling
  any supervisor of real processes works under.
- procrastinate (`--pg`, or `--pg-db URL`): N jobs deferred, then a worker with concurrency K until the queue
  is empty; beside it jobtui on PostgreSQL (`jobtui_pg`). `--pg` starts a durable throwaway cluster (fsync,
  full page writes and synchronous commit on, as a production server) for both; with `--pg-db URL`
  procrastinate uses that database and jobtui engine_drain's fsync-off cluster.

Ends with `jobtui_jobs_per_s=… huey_jobs_per_s=… [spawn_jobs_per_s=…] [procrastinate_jobs_per_s=…]`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def jobtui_rate(jobs: int, workers: int, op: str, backend: str = "sqlite", db: str | None = None) -> float:
    command = [sys.executable, str(HERE / "engine_drain.py"), "--jobs", str(jobs), "--workers", str(workers)]
    command += ["--op", op, "--backend", backend] + (["--db", db] if db else [])
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = re.search(r"^jobs_per_s=([\d.]+)$", out, re.M)
    if found is None:
        raise SystemExit(f"engine_drain printed no jobs_per_s:\n{out}")
    return float(found.group(1))


def huey_rate(jobs: int, workers: int, op: str) -> float | None:
    try:
        from huey import SqliteHuey
        from huey.consumer import Consumer
    except ImportError:
        print("huey: not installed (pip install -e '.[bench]'); skipped")
        return None
    with tempfile.TemporaryDirectory() as folder:
        huey = SqliteHuey(filename=str(Path(folder) / "huey.db"), fsync=True, journal_mode="wal")
        done = threading.Semaphore(0)
        work = _op(op)

        @huey.task()
        def job() -> None:
            work()
            done.release()

        for _ in range(jobs):
            job()
        consumer = Consumer(
            huey,
            workers=workers,
            periodic=False,
            initial_delay=0.001,
            max_delay=0.01,
            check_worker_health=False,
        )
        started = time.perf_counter()
        consumer.start()  # its scheduler and worker threads; `run` would only add the health loop
        for _ in range(jobs):
            done.acquire()
        elapsed = time.perf_counter() - started
        consumer.stop(graceful=True)
    return jobs / elapsed


def spawn_rate(jobs: int, workers: int) -> float:
    per_thread = [jobs // workers + (1 if n < jobs % workers else 0) for n in range(workers)]

    def loop(count: int) -> None:
        for _ in range(count):
            subprocess.run(["/bin/true"], check=True)

    threads = [threading.Thread(target=loop, args=(count,)) for count in per_thread]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs / (time.perf_counter() - started)


def procrastinate_rate(jobs: int, workers: int, op: str, url: str) -> float | None:
    try:
        import procrastinate
    except ImportError:
        print("procrastinate: not installed (pip install -e '.[bench]'); skipped")
        return None
    conninfo = re.sub(r"^postgresql\+psycopg://", "postgresql://", url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    work = _op(op)

    @app.task(name="noop")
    def job() -> None:
        work()

    async def run() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for _ in range(jobs):
                await job.defer_async()
            started = time.perf_counter()
            await app.run_worker_async(concurrency=workers, wait=False, install_signal_handlers=False)
            return jobs / (time.perf_counter() - started)

    return asyncio.run(run())


def _op(op: str) -> Callable[[], None]:
    if op == "true":
        return lambda: subprocess.run(["/bin/true"], check=True) and None
    return lambda: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--op", choices=["noop", "true"], default="noop")
    parser.add_argument("--pg-db", metavar="URL", help="a fresh PostgreSQL database for procrastinate")
    parser.add_argument(
        "--pg",
        action="store_true",
        help="start a durable throwaway PostgreSQL cluster (fsync on) and run procrastinate and jobtui on "
        "a fresh database each in it",
    )
    args = parser.parse_args()
    if args.pg:
        sys.path.insert(0, str(HERE.parent))
        from bench.engine_common import pg_cluster

        with pg_cluster(durable=True) as new_database:
            compare(args, new_database(), new_database())
        return
    compare(args, args.pg_db, None)


def compare(args: argparse.Namespace, procrastinate_db: str | None, jobtui_pg_db: str | None) -> None:
    rates: dict[str, float] = {"jobtui": jobtui_rate(args.jobs, args.workers, args.op)}
    huey = huey_rate(args.jobs, args.workers, args.op)
    if huey is not None:
        rates["huey"] = huey
    if args.op == "true":
        rates["spawn"] = spawn_rate(args.jobs, args.workers)
    if procrastinate_db:
        rate = procrastinate_rate(args.jobs, args.workers, args.op, procrastinate_db)
        if rate is not None:
            # Beside it, jobtui on PostgreSQL too: in the same durable cluster with --pg, else in
            # engine_drain's own throwaway one (fsync off).
            rates["jobtui_pg"] = jobtui_rate(args.jobs, args.workers, args.op, "postgresql", jobtui_pg_db)
            rates["procrastinate"] = rate
    base = rates["jobtui"]
    for name, rate in rates.items():
        print(f"{name:<14} {rate:10.1f} jobs/s  jobtui/{name} = {base / rate:.2f}")
    print(" ".join(f"{name}_jobs_per_s={rate:.1f}" for name, rate in rates.items()))


if __name__ == "__main__":
    main()
