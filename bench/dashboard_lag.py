"""Dashboard lag benchmark: how long a job change in the database takes to reach the terminal while
writer processes commit N job changes per second.

    python bench/dashboard_lag.py [--jobs 2000] [--rate 1000] [--seconds 10] [--writers 2] [--batch 5]

The real `jobtui` runs on a pseudo-terminal (160x48) over a throwaway SQLite database of --jobs jobs,
with no engine of its own. --writers processes change the progress of random jobs at --rate changes/s
in all, --batch changes per transaction, each change written as the engine writes one (a change-feed row
and the job's `seq` and progress, under the engine's write lock). Four times a second the newest job (the
table's first row) is one of them: the lag is from the commit of its new progress to the frame showing
it written out to the terminal. A value overwritten before the screen read it is not counted (the screen
shows the newest, which is what matters). Ends with `lag_p50_s=<float> lag_max_s=<float>`.
"""

from __future__ import annotations

import time

SPAWNED = time.perf_counter()

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard_terminal import Child, child_env, report_to_parent, warm_bytecode  # noqa: E402

SIZE = (160, 48)
MARKS_PER_SECOND = 4


def writer(
    url: str,
    jobs: int,
    rate: float,
    batch: int,
    start_at: float,
    seconds: float,
    marker: int | None,
    out: multiprocessing.Queue[tuple[str, Any]],
) -> None:
    """Commit `rate` changes/s, `batch` per transaction, from `start_at` for `seconds`; the writer given
    the marker job changes it MARKS_PER_SECOND times a second and says when each value was committed."""
    from sqlalchemy import insert, update

    from jobtui.engine.db.models import CHANGES, JOBS
    from jobtui.engine.db.store import Store

    store = Store(url)
    rng = random.Random(os.getpid())
    interval = batch / rate
    mark_every = max(1, round(rate / batch / MARKS_PER_SECOND))
    value = 0
    done = 0
    tick = 0
    while time.perf_counter() < start_at:
        time.sleep(0.001)
    next_at = start_at
    end = start_at + seconds
    while time.perf_counter() < end:
        tick += 1
        ids = rng.sample(range(1, jobs), batch)  # never the marker (the newest job, id == jobs)
        marked = marker is not None and tick % mark_every == 0
        if marked:
            value = value % 100 + 1
        with store.write() as session:
            conn = session.connection()
            now = store.now()
            for job_id in ids:
                progress = value if marked and job_id == ids[0] else rng.randint(0, 100)
                target = marker if marked and job_id == ids[0] else job_id
                # As Store.change_job: one feed row per job per transaction, its seq on the job.
                seq = conn.execute(
                    insert(CHANGES).values(job_id=target, kind="job", at=now).returning(CHANGES.c.seq)
                ).scalar_one()
                conn.execute(update(JOBS).where(JOBS.c.id == target).values(progress=progress, seq=seq))
        if marked:
            out.put(("mark", (value, time.perf_counter())))
        done += batch
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    out.put(("done", (done, time.perf_counter() - start_at)))


def run_child() -> None:
    """In the spawned process: the real CLI; reports each new progress of the first row once drawn."""
    report_to_parent(event="started", at=SPAWNED)
    from pathlib import Path as _Path

    import jobtui.app

    class BenchApp(jobtui.app.JobtuiApp):
        CSS_PATH = str(_Path(jobtui.app.__file__).with_name("styles") / "app.tcss")

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["embedded"] = False  # the writers stand for the engine
            super().__init__(*args, **kwargs)
            self._bench_seen: int | None = None
            self._bench_ready = False

        def on_mount(self) -> None:
            self.set_interval(0.002, self._watch)

        def _watch(self) -> None:
            from jobtui.screens.monitor import MonitorScreen
            from jobtui.widgets.job_table import JobTable

            stack = self.screen_stack
            screen = stack[1] if len(stack) > 1 and isinstance(stack[1], MonitorScreen) else None
            if screen is None or screen.first_paint_at is None:
                return
            if not self._bench_ready:
                self._bench_ready = True
                report_to_parent(event="ready", at=time.perf_counter(), cpu=time.process_time())
                profile_to = os.environ.get("JOBTUI_BENCH_PROFILE")
                if profile_to:  # cProfile of the UI thread for 12 s from here
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()

                    def dump() -> None:
                        profiler.disable()
                        profiler.dump_stats(profile_to)

                    self.set_timer(12, dump)
            row = screen.query_one(JobTable).row_at(0)
            if row is None or row.progress == self._bench_seen:
                return
            self._bench_seen = row.progress
            progress = row.progress
            # After the next refresh: the frame showing it has been written to the terminal.
            self.call_after_refresh(
                lambda: report_to_parent(
                    event="shown", at=time.perf_counter(), value=progress, cpu=time.process_time()
                )
            )

    jobtui.app.JobtuiApp = BenchApp  # type: ignore[misc]
    from jobtui.cli import main

    raise SystemExit(main(["--db", os.environ["JOBTUI_BENCH_DB"]]))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5, help="changes per transaction")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child()
        return 0

    from engine_common import loaded_sqlite  # not in the child: its imports are timed

    url = loaded_sqlite(args.jobs, "lag")
    warm_bytecode()
    child = Child([sys.executable, __file__, "--child"], SIZE, child_env({"JOBTUI_BENCH_DB": url}))
    while (report := child.report())["event"] != "ready":
        pass
    ready_cpu = float(report["cpu"])
    out: multiprocessing.Queue[tuple[str, Any]] = multiprocessing.Queue()
    start_at = time.perf_counter() + 0.5
    procs = [
        multiprocessing.Process(
            target=writer,
            args=(
                url,
                args.jobs,
                args.rate / args.writers,
                args.batch,
                start_at,
                args.seconds,
                args.jobs if n == 0 else None,
                out,
            ),
        )
        for n in range(args.writers)
    ]
    for proc in procs:
        proc.start()
    committed: dict[int, float] = {}  # marker value → when it was committed (the latest commit of it)
    shown: list[tuple[int, float]] = []
    finished: list[tuple[int, float]] = []
    last_cpu = ready_cpu
    deadline = start_at + args.seconds + 30
    while len(finished) < args.writers and time.perf_counter() < deadline:
        while not out.empty():
            kind, data = out.get()
            if kind == "mark":
                committed[data[0]] = data[1]
            else:
                finished.append(data)
        found = child.poll(0.05)
        if found is not None and found["event"] == "shown":
            shown.append((int(found["value"]), float(found["at"])))
            last_cpu = float(found["cpu"])
    for proc in procs:
        proc.join(timeout=10)
    while not out.empty():
        kind, data = out.get()
        if kind == "mark":
            committed[data[0]] = data[1]
    # Let the last value reach the screen, then stop the dashboard.
    settle = time.perf_counter() + 2
    while time.perf_counter() < settle:
        found = child.poll(0.1)
        if found is not None and found["event"] == "shown":
            shown.append((int(found["value"]), float(found["at"])))
    child.proc.terminate()
    child.wait()

    lags = sorted(
        at - committed[value] for value, at in shown if value in committed and at >= committed[value]
    )
    if not lags:
        print(f"no marker change reached the screen ({len(committed)} committed)", file=sys.stderr)
        return 1
    changes = sum(n for n, _ in finished)
    elapsed = max((s for _, s in finished), default=args.seconds)
    achieved = changes / elapsed if elapsed else 0.0
    marks = len(committed)
    params = (
        f"jobs={args.jobs} rate={args.rate:g}/s achieved={achieved:.0f}/s writers={args.writers} "
        f"batch={args.batch} seconds={args.seconds:g} load={os.getloadavg()[0]:.2f}"
    )
    p50, p90, worst = statistics.median(lags), lags[int(0.9 * (len(lags) - 1))], lags[-1]
    ui_cpu = (last_cpu - ready_cpu) / args.seconds * 100
    print(f"writes {achieved:.0f} changes/s {params}")
    print(f"lag_p50 {p50:.3f} s {params} (commit → frame written to the terminal)")
    print(f"lag_p90 {p90:.3f} s {params}")
    print(f"lag_max {worst:.3f} s {params} samples={len(lags)} of {marks} marks")
    print(f"dashboard_cpu {ui_cpu:.0f} % of one core while the writers ran {params}")
    print(f"lag_p50_s={p50:.3f} lag_max_s={worst:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
