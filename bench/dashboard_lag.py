"""Dashboard lag benchmark: how long a change in the database takes to reach the screen while another
process writes N job changes per second.

    python bench/dashboard_lag.py [--jobs 2000] [--rate 1000] [--seconds 10]

A writer process updates the progress of random jobs at --rate changes/s (each its own transaction, with a
change-feed row, as the engine writes). The app runs headless in this process; each time a marker job's
progress changes, the time until the table shows it is recorded. Ends with `lag_p50_s=<float>
lag_max_s=<float>`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import queue
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def writer(
    url: str,
    jobs: int,
    rate: float,
    seconds: float,
    marker: int,
    marks: multiprocessing.Queue[tuple[int, float]],
) -> None:
    from jobtui.engine.models import Job
    from jobtui.engine.store import Store

    store = Store(url)
    end = time.perf_counter() + seconds
    interval = 1.0 / rate
    next_at = time.perf_counter()
    tick = 0
    while time.perf_counter() < end:
        tick += 1
        job_id = marker if tick % max(1, int(rate // 4)) == 0 else random.randint(1, jobs)
        with store.write() as s:
            job = s.get(Job, job_id)
            assert job is not None
            value = (job.progress + 1) % 101
            store.change_job(s, job, "bench", "progress", progress=value)
        if job_id == marker:
            marks.put((value, time.perf_counter()))
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    marks.put((-1, tick / seconds))  # the end, with the write rate achieved


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    from jobtui.app import JobtuiApp
    from jobtui.bulk import bulk_load
    from jobtui.engine.permissions import Actor
    from jobtui.engine.store import Store
    from jobtui.screens.monitor import MonitorScreen
    from jobtui.widgets.job_table import JobTable

    url = f"sqlite:///{tempfile.mkdtemp(prefix='jobtui-bench-')}/lag.db"
    store = Store(url)
    bulk_load(store, args.jobs)
    marker = args.jobs  # the newest job: the first row of the default order
    marks: multiprocessing.Queue[tuple[int, float]] = multiprocessing.Queue()
    lags: list[float] = []
    achieved: list[float] = []
    app = JobtuiApp(store, Actor("bench"), embedded=False, tz="UTC")

    async def run() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            while not (len(pilot.app.screen_stack) > 1 and pilot.app.screen_stack[1].is_mounted):
                await asyncio.sleep(0.01)
            screen = pilot.app.screen_stack[1]
            assert isinstance(screen, MonitorScreen)
            table = screen.query_one(JobTable)
            proc = multiprocessing.Process(
                target=writer, args=(url, args.jobs, args.rate, args.seconds, marker, marks)
            )
            proc.start()
            pending: tuple[int, float] | None = None
            give_up = time.perf_counter() + args.seconds + 30
            while time.perf_counter() < give_up:
                # Always chase the newest marker change: the screen may skip values that were
                # overwritten before its next read, and that is not lag.
                while True:
                    try:
                        value, stamp = marks.get_nowait()
                    except queue.Empty:
                        break
                    if value < 0:
                        achieved.append(stamp)
                        proc.join()
                        return
                    pending = (value, stamp)
                row = table.row_at(0)
                if pending and row is not None and row.id == marker and row.progress == pending[0]:
                    lags.append(time.perf_counter() - pending[1])
                    pending = None
                await asyncio.sleep(0.002)
            proc.kill()

    asyncio.run(run())
    if not lags:
        print("no marker change reached the screen", file=sys.stderr)
        return 1
    rate = achieved[0] if achieved else 0.0
    params = f"jobs={args.jobs} rate={args.rate:g}/s achieved={rate:.0f}/s seconds={args.seconds:g}"
    p50, worst = statistics.median(lags), max(lags)
    print(f"lag_p50 {p50:.3f} s {params}")
    print(f"lag_max {worst:.3f} s {params} samples={len(lags)}")
    print(f"lag_p50_s={p50:.3f} lag_max_s={worst:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
