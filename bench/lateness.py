"""Scheduling lateness: N jobs scheduled for the same instant; per job, the delay from that instant (the
job's scheduled date, as stored) to the moment its op starts (a `call` op that records the wall clock).

    python bench/lateness.py [--jobs 1000] [--workers 2] [--engines 1] [--db URL] [--backend B] [--lead S]

The engine runs first; the jobs are then submitted with `at` = now + lead, so the engine walks each one to
its RUN gate and parks it (READY, due at the scheduled date) before the instant, as jobs submitted ahead
of time are. The run fails if they are not all parked by then (raise --lead). The scheduled instant is
read back from the database; the op records the real clock (`time.time()`, on the same host).

With one engine and K slots the delays are mostly the queue: the last job starts about N / drain rate
after the instant; the first job's delay is how long an idle engine takes to notice a due job.

Prints one line per figure (name, value, unit, parameters) and ends with `lateness_p99_s=<float>`.
The database is a throwaway one unless --db gives a URL (see engine_drain.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pendulum
from sqlalchemy import ColumnElement, func, select

from bench.engine_common import (
    STARTS_ENV,
    add_db_arguments,
    backend_of,
    daemon_errors,
    exit_on_sigterm,
    explained,
    figure,
    params_of,
    percentile,
    read_starts,
    running_engines,
    scratch_database,
    wait_until,
)
from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.service.actions import Actions

QUICK_JOBS = 100


def count(store: Store, *where: ColumnElement[bool]) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(JOBS).where(*where)).scalar_one())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="worker slots per engine (default 2)")
    parser.add_argument("--engines", type=int, default=1, help="engine processes (default 1, in-process)")
    add_db_arguments(parser)
    parser.add_argument(
        "--lead",
        type=float,
        help="seconds from submission to the scheduled instant (default 4 + jobs / 40: parking time)",
    )
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--quick", action="store_true", help=f"CI size: --jobs {QUICK_JOBS}")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.quick:
        args.jobs = QUICK_JOBS
    if args.lead is None:
        args.lead = 4 + args.jobs / 40

    with scratch_database(args.db, args.backend) as (url, scratch):
        return measure(args, url, scratch)


def measure(args: argparse.Namespace, url: str, scratch: Path) -> int:
    logs = scratch / "logs"
    starts_file = scratch / "starts"
    store = Store(url, log_dir=logs)
    definition = parse_definition(
        'name = "lateness"\n[[run]]\ncall = "bench.engine_common:record_start"\n'
        f'env = {{ {STARTS_ENV} = "{starts_file}" }}\n',
        "lateness.toml",
    )
    params = params_of(jobs=args.jobs, workers=args.workers, engines=args.engines, db=backend_of(url))

    daemons: list[subprocess.Popen[bytes]] = []
    try:
        with running_engines(store, url, logs, args.workers, args.engines) as started_daemons:
            daemons = started_daemons
            instant = pendulum.now("UTC").add(seconds=args.lead)
            submitted = time.time()
            ids = Actions(store, Actor("bench")).submit_many(definition, args.jobs, at=instant.isoformat())
            mine = JOBS.c.id.between(min(ids), max(ids))  # one INSERT: consecutive ids
            parked_at = wait_until(
                lambda: (
                    count(store, mine, JOBS.c.status == "READY", JOBS.c.due_at == JOBS.c.scheduled_at)
                    == args.jobs
                ),
                args.lead + 60,
                "the jobs to be parked at their RUN gate",
                poll_s=0.05,
            )
            parked_wall = time.time() - (time.perf_counter() - parked_at)
            figure("park_s", parked_wall - submitted, "s", params, 2)
            if parked_wall >= instant.timestamp():
                raise SystemExit(
                    f"the jobs were parked {parked_wall - instant.timestamp():.1f}s after their scheduled "
                    f"instant: raise --lead above {args.lead:g}s"
                )
            wait_until(
                lambda: count(store, mine, JOBS.c.status == "FINISHED") == args.jobs,
                args.lead + args.timeout,
                "the jobs to finish",
                # The delays come from the ops' own records: look rarely, leave the engine the CPU.
                poll_s=0.25,
            )
    except SystemExit as exc:
        raise (explained(exc, daemon_errors(logs)) if daemons else exc) from None

    with store.engine.connect() as conn:
        due = dict(conn.execute(select(JOBS.c.id, JOBS.c.scheduled_at).where(JOBS.c.id.in_(ids))).all())
    store.engine.dispose()
    starts = read_starts(starts_file)
    missing = set(ids) - set(starts)
    if missing:
        raise SystemExit(f"{len(missing)} jobs finished without recording their op start")
    delays = [starts[i] - due[i].timestamp() for i in ids]
    if min(delays) < 0:
        raise SystemExit(f"an op started {-min(delays):.3f}s before its scheduled date")
    figure("lateness_min_s", min(delays), "s", params)
    figure("lateness_p50_s", percentile(delays, 50), "s", params)
    figure("lateness_p99_s", percentile(delays, 99), "s", params)
    figure("lateness_max_s", max(delays), "s", params)
    print(f"lateness_p99_s={percentile(delays, 99):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
