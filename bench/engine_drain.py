"""Engine drain benchmark: how fast the engine empties a queue of one-op jobs.

    python bench/engine_drain.py --jobs N --workers K --op noop|true [--db URL] [--engines E]

Prints one line per figure (name, value, unit, parameters) and ends with `jobs_per_s=<float>`.
Creates a throwaway SQLite database unless --db is given. With --engines E > 1, E daemon processes
share the database (as several hosts would share one queue).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from jobtui.engine.actions import Actions  # noqa: E402
from jobtui.engine.definitions import parse_definition  # noqa: E402
from jobtui.engine.models import JOBS  # noqa: E402
from jobtui.engine.permissions import Actor  # noqa: E402
from jobtui.engine.scheduler import Engine  # noqa: E402
from jobtui.engine.store import Store  # noqa: E402

OPS = {"noop": 'call = "jobtui.engine.runner:noop"', "true": 'argv = ["/bin/true"]'}


def finished(store: Store) -> int:
    with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(JOBS).where(JOBS.c.status == "FINISHED")
        return int(conn.execute(stmt).scalar_one())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--op", choices=sorted(OPS), default="noop")
    parser.add_argument("--db")
    parser.add_argument("--engines", type=int, default=1, help="engine processes sharing the database")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="jobtui-bench-")
    url = args.db or f"sqlite:///{scratch}/bench.db"
    store = Store(url)
    definition = parse_definition(f'name = "bench"\n[[run]]\n{OPS[args.op]}\n', "bench.toml")
    started = time.perf_counter()
    Actions(store, Actor("bench")).submit_many(definition, args.jobs)
    submit_s = time.perf_counter() - started
    backend = store.url.split(":")[0]
    params = f"jobs={args.jobs} workers={args.workers} op={args.op} engines={args.engines} db={backend}"
    print(f"submit_jobs_per_s {args.jobs / submit_s:.1f} jobs/s {params}")

    daemons: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    started = time.perf_counter()
    if args.engines == 1:
        engine = Engine(store, workers=args.workers)
        thread = threading.Thread(target=engine.run, args=(stop,), daemon=True)
        thread.start()
    else:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for _ in range(args.engines):
            daemons.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "jobtui.cli",
                        "daemon",
                        "--db",
                        url,
                        "--workers",
                        str(args.workers),
                    ],
                    env=env,
                    stderr=subprocess.DEVNULL,
                )
            )
    deadline = started + args.timeout
    while finished(store) < args.jobs:
        if time.perf_counter() > deadline:
            print(f"timeout after {args.timeout}s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    for proc in daemons:
        proc.send_signal(signal.SIGTERM)
    for proc in daemons:
        proc.wait(timeout=30)
    print(f"drain_s {elapsed:.2f} s {params}")
    print(f"ops_per_s {args.jobs / elapsed:.1f} ops/s {params}")
    print(f"jobs_per_s={args.jobs / elapsed:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
