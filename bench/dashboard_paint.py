"""Dashboard benchmark: first paint and memory of the monitor over a database of N jobs.

    python bench/dashboard_paint.py --jobs N [--db URL] [--presses 200]

Fills a throwaway SQLite database with N historical jobs (unless --db is given), then opens the real
app headless in a fresh process and prints one line per figure; the last line is
`first_paint_s=<float> rss_mb=<float>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(db: str, presses: int) -> dict[str, float]:
    """In this process: open the app, wait for the first rows on screen, then hold `down`."""
    started = time.perf_counter()
    import psutil

    from jobtui.app import JobtuiApp
    from jobtui.engine.permissions import Actor
    from jobtui.engine.store import Store
    from jobtui.screens.monitor import MonitorScreen
    from jobtui.widgets.job_table import JobTable

    figures: dict[str, float] = {"import_s": time.perf_counter() - started}
    started = time.perf_counter()  # first paint counts from opening the database, imports apart
    store = Store(db)
    app = JobtuiApp(store, Actor("bench"), embedded=False, tz="UTC")

    async def run() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            screen: MonitorScreen | None = None
            while screen is None or screen.first_paint_at is None:
                await asyncio.sleep(0.005)
                stack = pilot.app.screen_stack
                screen = stack[1] if len(stack) > 1 and isinstance(stack[1], MonitorScreen) else None
            figures["first_paint_s"] = screen.first_paint_at - started
            table = screen.query_one(JobTable)
            target = min(presses, max(0, table.total - 1))
            began = time.perf_counter()
            # A held key: the terminal sends repeats without waiting for the screen.
            for _ in range(presses):
                pilot.app.simulate_key("down")
            while table.cursor < target:
                await asyncio.sleep(0.001)
            await pilot.pause()
            figures["down_presses_s"] = time.perf_counter() - began
            figures["cursor_after_presses"] = float(table.cursor)
            figures["rss_mb"] = psutil.Process().memory_info().rss / 1e6

    asyncio.run(run())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.db, args.presses)))
        return 0

    db = args.db
    if db is None:
        from jobtui.bulk import bulk_load
        from jobtui.engine.store import Store

        db = f"sqlite:///{tempfile.mkdtemp(prefix='jobtui-bench-')}/paint.db"
        began = time.perf_counter()
        bulk_load(Store(db), args.jobs)
        print(f"bulk_load_s {time.perf_counter() - began:.2f} s jobs={args.jobs}")
    child = subprocess.run(
        [sys.executable, __file__, "--child", "--db", db, "--presses", str(args.presses)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    params = f"jobs={args.jobs}"
    print(f"import {figures['import_s']:.3f} s {params} (Python imports of the app)")
    print(f"first_paint {figures['first_paint_s']:.3f} s {params} (database open to first rows on screen)")
    print(f"rss {figures['rss_mb']:.1f} MB {params}")
    print(f"down_presses {figures['down_presses_s']:.3f} s {params} presses={args.presses}")
    print(f"first_paint_s={figures['first_paint_s']:.3f} rss_mb={figures['rss_mb']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
