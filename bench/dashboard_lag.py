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

    python bench/dashboard_lag.py --drain 40000 [--seconds 10] [--workers 2]

With `--drain N`, a real `jobtui daemon --workers K` drains N no-op jobs at full speed instead of the
writers (one writer only moves the marker, the newest job, which is never due), and a held key is timed
twice: 200 `down` keys written at once before the daemon starts (idle), 200 `up` keys during the drain.
The drain's rate over the measured window is printed beside the lags.
"""

from __future__ import annotations

import time

SPAWNED = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard_terminal import KEYS, Child, child_env, report_to_parent, warm_bytecode  # noqa: E402

SIZE = (160, 48)
MARKS_PER_SECOND = 4
KEY_PRESSES = 200  # a held key: the cursor goes this many rows down, then back up


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
            self._bench_cursor: int | None = None
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
            table = screen.query_one(JobTable)
            if table.cursor in (0, KEY_PRESSES) and table.cursor != self._bench_cursor:
                cursor = self._bench_cursor = table.cursor
                self.call_after_refresh(
                    lambda: report_to_parent(event="cursor", at=time.perf_counter(), cursor=cursor)
                )
            row = table.row_at(0)
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


def queue_drain(url: str, jobs: int) -> int:
    """Submit `jobs` no-op jobs for the daemon, then the marker (newer than all of them: the table's first
    row), due only tomorrow; returns the marker's id."""
    from jobtui.engine.db.store import Store
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.formats.definition_file import parse_definition
    from jobtui.engine.service.actions import Actions

    store = Store(url)
    actions = Actions(store, Actor("bench"))
    noop = 'name = "drained"\n[[run]]\ncall = "jobtui.engine.worker.runner:noop"\n'
    began = time.perf_counter()
    actions.submit_many(parse_definition(noop, "drained.toml"), jobs)
    print(f"submit_s {time.perf_counter() - began:.2f} s drain={jobs}")
    marker = parse_definition('name = "marker"\n[[run]]\nargv = ["/bin/true"]\n', "marker.toml")
    (marker_id,) = actions.submit_many(marker, 1, at="+1d")
    store.engine.dispose()
    return marker_id


def finished_jobs(url: str, after_id: int) -> int:
    """How many jobs newer than `after_id` have FINISHED (the drained ones)."""
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM jobs WHERE id > ? AND status = 'FINISHED'", (after_id,)
        ).fetchone()
    return int(count)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=5, help="changes per transaction")
    parser.add_argument("--drain", type=int, default=0, help="no-op jobs a real daemon drains meanwhile")
    parser.add_argument("--workers", type=int, default=2, help="the draining daemon's slots")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child()
        return 0

    from engine_common import loaded_sqlite, start_daemon, stop_daemons  # not in the child: timed imports

    url = loaded_sqlite(args.jobs, "lag")
    marker = args.jobs
    if args.drain:
        marker = queue_drain(url, args.drain)
        args.writers, args.rate, args.batch = 1, MARKS_PER_SECOND, 1  # only the marker moves
    warm_bytecode()
    child = Child([sys.executable, __file__, "--child"], SIZE, child_env({"JOBTUI_BENCH_DB": url}))
    while (report := child.report())["event"] != "ready":
        pass
    ready_cpu = float(report["cpu"])
    cursor_at: dict[int, float] = {}  # cursor row (0 or KEY_PRESSES) → when the frame showing it was written
    shown: list[tuple[int, float]] = []

    def take(found: dict[str, Any] | None) -> None:
        if found is None:
            return
        if found["event"] == "shown":
            shown.append((int(found["value"]), float(found["at"])))
        elif found["event"] == "cursor":
            cursor_at[int(found["cursor"])] = float(found["at"])

    def wait_cursor(row: int, timeout: float = 30) -> None:
        deadline = time.perf_counter() + timeout
        while row not in cursor_at and time.perf_counter() < deadline:
            take(child.poll(0.05))

    keys: dict[str, float] = {}
    daemon = None
    logs = Path(tempfile.mkdtemp(prefix="jobtui-bench-lag-"))
    if args.drain:
        cursor_at.clear()
        sent = child.send(KEYS["down"] * KEY_PRESSES)
        wait_cursor(KEY_PRESSES)
        keys["idle"] = cursor_at.get(KEY_PRESSES, float("nan")) - sent
        daemon = start_daemon(url, logs, "--workers", str(args.workers))
        while finished_jobs(url, args.jobs) == 0:
            if daemon.poll() is not None:
                print("the daemon exited before draining", file=sys.stderr)
                return 1
            time.sleep(0.05)
    try:
        return measure(args, url, marker, child, ready_cpu, shown, take, wait_cursor, cursor_at, keys)
    finally:
        if daemon is not None:
            stop_daemons([daemon], now=True)
        shutil.rmtree(logs, ignore_errors=True)


def measure(
    args: argparse.Namespace,
    url: str,
    marker: int,
    child: Child,
    ready_cpu: float,
    shown: list[tuple[int, float]],
    take: Callable[[dict[str, Any] | None], None],
    wait_cursor: Callable[[int], None],
    cursor_at: dict[int, float],
    keys: dict[str, float],
) -> int:
    out: multiprocessing.Queue[tuple[str, Any]] = multiprocessing.Queue()
    start_at = time.perf_counter() + 0.5
    drained_before = finished_jobs(url, args.jobs) if args.drain else 0
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
                marker if n == 0 else None,
                out,
            ),
        )
        for n in range(args.writers)
    ]
    for proc in procs:
        proc.start()
    committed: dict[int, float] = {}  # marker value → when it was committed (the latest commit of it)
    finished: list[tuple[int, float]] = []
    last_cpu = ready_cpu
    deadline = start_at + args.seconds + 30
    press_at = start_at + args.seconds / 2 if args.drain else None
    while len(finished) < args.writers and time.perf_counter() < deadline:
        while not out.empty():
            kind, data = out.get()
            if kind == "mark":
                committed[data[0]] = data[1]
            else:
                finished.append(data)
        if press_at is not None and time.perf_counter() >= press_at:
            press_at = None
            cursor_at.pop(0, None)
            keys["draining"] = -child.send(KEYS["up"] * KEY_PRESSES)
        found = child.poll(0.05)
        take(found)
        if found is not None and found["event"] == "shown":
            last_cpu = float(found["cpu"])
    drained = finished_jobs(url, args.jobs) - drained_before if args.drain else 0
    for proc in procs:
        proc.join(timeout=10)
    while not out.empty():
        kind, data = out.get()
        if kind == "mark":
            committed[data[0]] = data[1]
    if "draining" in keys:
        wait_cursor(0)
        keys["draining"] += cursor_at.get(0, float("nan"))
    # Let the last value reach the screen, then stop the dashboard.
    settle = time.perf_counter() + 2
    while time.perf_counter() < settle:
        take(child.poll(0.1))
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
    load = f"load={os.getloadavg()[0]:.2f}"
    if args.drain:
        params = f"jobs={args.jobs} drain={args.drain} workers={args.workers} seconds={args.seconds:g} {load}"
        print(f"engine_drain {drained / elapsed:.0f} jobs/s {params} (over the measured window)")
        if drained + drained_before >= args.drain:
            print("the drain ended inside the window: give --drain more jobs", file=sys.stderr)
    else:
        params = (
            f"jobs={args.jobs} rate={args.rate:g}/s achieved={achieved:.0f}/s writers={args.writers} "
            f"batch={args.batch} seconds={args.seconds:g} {load}"
        )
        print(f"writes {achieved:.0f} changes/s {params}")
    p50, p90, p99, worst = (
        statistics.median(lags),
        lags[int(0.9 * (len(lags) - 1))],
        lags[int(0.99 * (len(lags) - 1))],
        lags[-1],
    )
    ui_cpu = (last_cpu - ready_cpu) / args.seconds * 100
    print(f"lag_p50 {p50:.3f} s {params} (commit → frame written to the terminal)")
    print(f"lag_p90 {p90:.3f} s {params}")
    print(f"lag_p99 {p99:.3f} s {params}")
    print(f"lag_max {worst:.3f} s {params} samples={len(lags)} of {marks} marks")
    print(f"dashboard_cpu {ui_cpu:.0f} % of one core while the writers ran {params}")
    for when, seconds in keys.items():
        rate = KEY_PRESSES / seconds
        print(f"held_key_{when} {seconds:.3f} s for {KEY_PRESSES} presses ({rate:.0f}/s) {params}")
    print(f"lag_p50_s={p50:.3f} lag_max_s={worst:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
