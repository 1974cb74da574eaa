"""The engine drain matrix: 10,000 jobs of one no-op `call` op and 2,000 jobs of `/bin/true`, with 1, 2
and 4 workers, on SQLite and PostgreSQL, each run a separate `bench/engine_drain.py` on a fresh database.

    python bench/drain_matrix.py [--scale F] [--layout slots|engines|both] [--backends sqlite,postgresql]

What "K workers" means (--layout):
  slots    one engine with K worker slots (`jobtui daemon --workers K`): K jobs in flight, one process
  engines  K `jobtui daemon` processes with one slot each, sharing the database (K hosts on one queue)
  both     (default) both; with K = 1 they are the same run, so it is done once

--scale multiplies the job counts (--scale 0.1: 1,000 and 200 jobs). PostgreSQL runs share one throwaway
cluster started here (a fresh database per run) unless --pg-db gives a server URL to use.

Prints one line per figure: `drain_jobs_per_s <value> jobs/s <parameters>` and `drain_ops_per_s ...`, then
a Markdown table of the runs (for the README), and ends with `runs=<n>`.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.engine_common import BACKENDS, figure, params_of, pg_cluster  # noqa: E402

JOBS = {"noop": 10_000, "true": 2_000}


@dataclass(frozen=True)
class Run:
    op: str
    jobs: int
    workers: int  # slots per engine
    engines: int
    backend: str

    @property
    def label(self) -> str:
        if self.engines == 1:
            return f"1 engine x {self.workers} slot{'s' if self.workers > 1 else ''}"
        return f"{self.engines} engines x {self.workers} slot"


def plan(scale: float, layout: str, workers: list[int], backends: list[str], ops: list[str]) -> list[Run]:
    runs: list[Run] = []
    for backend in backends:
        for op in ops:
            jobs = max(1, round(JOBS[op] * scale))
            for k in workers:
                shapes: list[tuple[int, int]] = []  # (slots, engines)
                if layout in ("slots", "both"):
                    shapes.append((k, 1))
                if layout in ("engines", "both"):
                    shapes.append((1, k))
                for slots, engines in dict.fromkeys(shapes):
                    runs.append(Run(op, jobs, slots, engines, backend))
    return runs


def drain(run: Run, url: str | None, timeout: float) -> dict[str, float]:
    argv = [
        sys.executable,
        str(HERE / "engine_drain.py"),
        "--jobs",
        str(run.jobs),
        "--workers",
        str(run.workers),
        "--engines",
        str(run.engines),
        "--op",
        run.op,
        "--timeout",
        str(timeout),
        "--db",
        url or run.backend,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 120)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"engine_drain.py failed ({proc.returncode}) for {run}")
    values: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and "=" not in parts[0]:
            values[parts[0]] = float(parts[1])
    return values


@contextlib.contextmanager
def pg_databases(needed: bool, server: str | None) -> Iterator[Callable[[], str | None]]:
    if not needed:
        yield lambda: None
    elif server:
        yield lambda: server
    else:
        with pg_cluster() as new_database:
            yield new_database


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the job counts (default 1)")
    parser.add_argument("--layout", choices=("slots", "engines", "both"), default="both")
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="default sqlite,postgresql")
    parser.add_argument("--ops", default="noop,true", help="default noop,true")
    parser.add_argument("--pg-db", help="a PostgreSQL database URL to use for every PostgreSQL run")
    parser.add_argument("--timeout", type=float, default=1800, help="per run")
    parser.add_argument("--quick", action="store_true", help="CI size: --scale 0.01 --layout slots")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.layout = 0.01, "slots"
    backends = [b for b in args.backends.split(",") if b]
    ops = [o for o in args.ops.split(",") if o]
    unknown = sorted(set(backends) - set(BACKENDS)) + sorted(set(ops) - set(JOBS))
    if unknown:
        parser.error(f"unknown backend or op: {', '.join(unknown)}")
    runs = plan(args.scale, args.layout, [int(k) for k in args.workers.split(",")], backends, ops)

    table: list[str] = []
    with pg_databases("postgresql" in backends, args.pg_db) as new_pg_database:
        for run in runs:
            url = new_pg_database() if run.backend == "postgresql" else None
            values = drain(run, url, args.timeout)
            params = params_of(
                op=run.op, jobs=run.jobs, workers=run.workers, engines=run.engines, db=run.backend
            )
            figure("drain_jobs_per_s", values["jobs_per_s"], "jobs/s", params, 1)
            figure("drain_ops_per_s", values["ops_per_s"], "ops/s", params, 1)
            table.append(
                f"| {run.backend} | `{run.op}` | {run.jobs:,} | {run.label} "
                f"| {values['jobs_per_s']:.0f} | {values['ops_per_s']:.0f} |"
            )
    print()
    print("| db | op | jobs | workers | jobs/s | ops/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(table))
    print(f"runs={len(runs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
