"""Where an engine's CPU goes: CPU time per job of the engine's thread, of its worker slots and of the
whole process (children included), over the drain of one-op jobs.

    python bench/engine_cpu.py [--jobs 10000] [--workers 2] [--op noop|true] [--runs 3]

The drain's rate (jobs/s) depends on everything else the machine runs; CPU time per job much less, so a
change to the engine shows here first. The engine runs in this process (as `engine_drain.py` with one
engine); each thread's time is read from /proc/self/task/<tid>/stat, which the kernel keeps by scheduler
ticks: a thread that runs in short bursts is sampled, so compare medians of a few runs. Process ops
(`--op true`) count their starters and ops only once those are reaped, so the process figure is a floor
for them. Ends with `engine_ms_per_job=<float> process_ms_per_job=<float>` (medians).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_common import figure, params_of, running_engines, scratch_database
from bench.engine_drain import OPS, busy_interval_s, finished, id_range
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.service.actions import Actions

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each thread of this process but the main one, by thread name."""
    found: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.native_id is None:
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue  # it ended
        found[thread.name] = found.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) * TICK_S
    return found


def one_run(jobs: int, workers: int, op: str) -> tuple[float, float, float, float]:
    """(engine thread ms/job, slots ms/job, process ms/job, jobs/s) of one drain on a fresh database."""
    with scratch_database(None, "sqlite") as (url, scratch):
        store = Store(url, log_dir=scratch / "logs")
        definition = parse_definition(f'name = "bench"\n[[run]]\n{OPS[op]}\n', "bench.toml")
        ids = id_range(Actions(store, Actor("bench")).submit_many(definition, jobs))
        before = os.times()
        threads: dict[str, float] = {}
        with running_engines(store, url, scratch / "logs", workers, 1):
            while finished(store, ids) < jobs:
                time.sleep(0.05)
                threads = thread_cpu_s()  # read while the engine's threads still run
        after = os.times()
        busy, _ops = busy_interval_s(store, ids)
        store.engine.dispose()
    process = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system"))
    process += sum(getattr(after, f) - getattr(before, f) for f in ("children_user", "children_system"))
    engine = sum(cpu for name, cpu in threads.items() if name.endswith("(run)"))
    slots = sum(cpu for name, cpu in threads.items() if name.startswith("jobtui-slot"))
    return engine / jobs * 1e3, slots / jobs * 1e3, process / jobs * 1e3, jobs / busy


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--op", choices=sorted(OPS), default="noop")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.jobs, args.workers, args.op) for _ in range(args.runs)]
    params = params_of(jobs=args.jobs, workers=args.workers, op=args.op, runs=args.runs)
    medians = [statistics.median(run[n] for run in runs) for n in range(4)]
    for (name, unit), value in zip(
        (
            ("engine_thread_ms_per_job", "ms"),
            ("slots_ms_per_job", "ms"),
            ("process_ms_per_job", "ms"),
            ("jobs_per_s", "jobs/s"),
        ),
        medians,
        strict=True,
    ):
        figure(name, value, unit, params, 3 if unit == "ms" else 1)
    print(f"engine_ms_per_job={medians[0]:.3f} process_ms_per_job={medians[2]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
