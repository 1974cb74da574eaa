"""Engine drain benchmark: how fast the engine empties a queue of one-op jobs.

    python bench/engine_drain.py --jobs N --workers K --op noop|true [--db URL] [--backend B] [--engines E]

`--workers K` is the number of worker slots of an engine (`Engine(workers=K)`, `jobtui daemon --workers K`):
the jobs one engine runs at once. `--engines E` runs E `jobtui daemon` processes on the same database (as
E hosts would share one queue), K slots each; with E = 1 (the default) the engine runs in this process.

The database is a throwaway one unless --db gives a URL: a SQLite file by default, or with
`--backend postgresql` (or `--db postgresql`) a database in a PostgreSQL cluster started for this run
and removed after it (tests/support/pg.py: initdb + pg_ctl, loopback only, fsync off).

Prints one line per figure (name, value, unit, parameters), ops/s among them, and ends with the line
`jobs_per_s=<float>`. The rates count from the first claim to the last job's end as the
database recorded them (so daemon start-up is not counted); `wall_s` is from starting the engines to
seeing every job FINISHED.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench.engine_common import (
    add_db_arguments,
    backend_of,
    daemon_errors,
    exit_on_sigterm,
    figure,
    params_of,
    running_engines,
    scratch_database,
)
from jobtui.engine.db.models import AUDIT, JOBS, OP_RUNS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.service.actions import Actions

OPS = {"noop": 'call = "jobtui.engine.worker.runner:noop"', "true": 'argv = ["/bin/true"]'}
QUICK_JOBS = 100


def finished(store: Store, ids: range) -> int:
    with store.engine.connect() as conn:
        stmt = (
            select(func.count())
            .select_from(JOBS)
            .where(JOBS.c.id.between(ids.start, ids.stop - 1), JOBS.c.status == "FINISHED")
        )
        return int(conn.execute(stmt).scalar_one())


def busy_interval_s(store: Store, ids: range) -> tuple[float, int]:
    """Seconds from the first claim to the last job's end (the database's timestamps), and ops done."""
    lo, hi = ids.start, ids.stop - 1
    with store.engine.connect() as conn:
        first = conn.execute(
            select(func.min(AUDIT.c.at)).where(AUDIT.c.job_id.between(lo, hi), AUDIT.c.action == "claim")
        ).scalar_one()
        last = conn.execute(select(func.max(JOBS.c.ended_at)).where(JOBS.c.id.between(lo, hi))).scalar_one()
        ops = conn.execute(
            select(func.count())
            .select_from(OP_RUNS)
            .where(OP_RUNS.c.job_id.between(lo, hi), OP_RUNS.c.status == "done")
        ).scalar_one()
    return (last - first).total_seconds(), int(ops)


def id_range(ids: list[int]) -> range:
    """The submitted jobs as one id range (one INSERT: consecutive ids unless another writer interleaved),
    so a database given with --db may hold other jobs."""
    mine = range(min(ids), max(ids) + 1)
    if len(mine) != len(ids):
        raise SystemExit("the submitted jobs' ids are not consecutive: another writer on this database?")
    return mine


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="worker slots per engine (default 2)")
    parser.add_argument("--op", choices=sorted(OPS), default="noop")
    add_db_arguments(parser)
    parser.add_argument("--engines", type=int, default=1, help="engine processes sharing the database")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--quick", action="store_true", help=f"CI size: --jobs {QUICK_JOBS}")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.quick:
        args.jobs = QUICK_JOBS

    with scratch_database(args.db, args.backend) as (url, scratch):
        return drain(args, url, scratch)


def drain(args: argparse.Namespace, url: str, scratch: Path) -> int:
    logs = scratch / "logs"
    store = Store(url, log_dir=logs)
    definition = parse_definition(f'name = "bench"\n[[run]]\n{OPS[args.op]}\n', "bench.toml")
    params = params_of(
        jobs=args.jobs, workers=args.workers, op=args.op, engines=args.engines, db=backend_of(url)
    )
    started = time.perf_counter()
    ids = id_range(Actions(store, Actor("bench")).submit_many(definition, args.jobs))
    figure("submit_jobs_per_s", args.jobs / (time.perf_counter() - started), "jobs/s", params, 1)

    started = time.perf_counter()
    with running_engines(store, url, logs, args.workers, args.engines) as daemons:
        deadline = started + args.timeout
        while finished(store, ids) < args.jobs:
            if time.perf_counter() > deadline:
                print(f"timeout after {args.timeout}s", file=sys.stderr)
                return 1
            if any(proc.poll() is not None for proc in daemons):
                print(f"a daemon exited during the drain\n{daemon_errors(logs)}", file=sys.stderr)
                return 1
            # Counting costs the engine CPU and the rates come from the database's timestamps: look
            # often at first, then about 50 times over the run.
            time.sleep(min(0.5, max(0.02, (time.perf_counter() - started) / 50)))
        wall = time.perf_counter() - started
    busy, ops = busy_interval_s(store, ids)
    store.engine.dispose()
    figure("wall_s", wall, "s", params, 2)
    figure("drain_s", busy, "s", params, 2)
    figure("jobs_per_s", args.jobs / busy, "jobs/s", params, 1)
    figure("ops_per_s", ops / busy, "ops/s", params, 1)
    print(f"jobs_per_s={args.jobs / busy:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
