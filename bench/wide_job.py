"""One job of many targets through the engine's rule-rich path: how fast it runs its ops.

    python bench/wide_job.py [--targets 2000] [--db URL] [--backend B] [--quick]

A job with a schedule that retries (`retry_every`) is walked op by op by the walker, not the fast lane
(engine/worker/fastlane.py): every op's end is recorded, the task and the job's progress recounted and the
next op looked up in the database. Its ops are no-op calls (one per target), so the figures are the
engine's cost per op of a wide job; until the walk asked about one task instead of reading every op or
task of the job, it grew with the number of targets (2,000 targets: 28 s, 14 ms an op). Prints
`ops_per_s=<float>` on its last line.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench.engine_common import (
    add_db_arguments,
    backend_of,
    exit_on_sigterm,
    figure,
    params_of,
    running_engines,
    scratch_database,
)
from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.service.actions import Actions

QUICK_TARGETS = 200


def definition_text(targets: int) -> str:
    names = ", ".join(f'"host-{n}"' for n in range(targets))
    return (
        f'name = "wide"\ntargets = [{names}]\n[schedule]\nretry_every = "5m"\n'
        '[[run]]\ncall = "jobtui.engine.worker.runner:noop"\nper_target = true\n'
    )


def run(url: str, scratch: Path, targets: int, timeout: float) -> int:
    store = Store(url, log_dir=scratch / "logs")
    job_id = Actions(store, Actor("bench")).submit(
        parse_definition(definition_text(targets), "wide.toml"), keep=True
    )
    params = params_of(targets=targets, db=backend_of(url))
    deadline = time.perf_counter() + timeout
    with running_engines(store, url, scratch / "logs", workers=2, engines=1):
        while True:
            with store.engine.connect() as conn:
                row = conn.execute(
                    select(JOBS.c.status, JOBS.c.started_at, JOBS.c.ended_at).where(JOBS.c.id == job_id)
                ).one()
            if row.ended_at is not None:
                break
            if time.perf_counter() > deadline:
                print(f"timeout after {timeout}s (status {row.status})", file=sys.stderr)
                return 1
            time.sleep(0.2)
    store.engine.dispose()
    if row.status != "FINISHED":
        print(f"the job ended {row.status}", file=sys.stderr)
        return 1
    took = (row.ended_at - row.started_at).total_seconds()
    figure("job_s", took, "s", params, 2)
    figure("ms_per_op", 1000 * took / targets, "ms", params, 2)
    print(f"ops_per_s={targets / took:.1f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=2000)
    add_db_arguments(parser)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--quick", action="store_true", help=f"CI size: --targets {QUICK_TARGETS}")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.quick:
        args.targets = QUICK_TARGETS
    with scratch_database(args.db, args.backend) as (url, scratch):
        return run(url, scratch, args.targets, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
