"""A job with many targets: how long `jobtui show --json` takes and how soon the dashboard's detail pane
shows its first tasks (issue 14: 20,000 targets took 218 s to show and minutes to fill the pane).

    python bench/big_job.py [--targets 20000]

The job runs its op once per target; submitting plans those 20,000 op rows, and nothing runs them: the
figures measure reading and drawing a job of that size, not running 20,000 processes. The pane's tasks
table is virtual: pane_s is the time to its first task drawn, end_s the time from `end` in it to the
last task drawn. Prints `show_s=… pane_s=… end_s=…` on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from jobtui.app import JobtuiApp  # noqa: E402
from jobtui.engine.db.store import Store  # noqa: E402
from jobtui.engine.domain.permissions import Actor  # noqa: E402
from jobtui.engine.formats.definition_file import parse_definition  # noqa: E402
from jobtui.engine.service.actions import Actions  # noqa: E402


def make_job(url: str, targets: int) -> int:
    store = Store(url)
    names = ", ".join(f'"host-{n}"' for n in range(targets))
    text = f'name = "big"\ntargets = [{names}]\n[[run]]\nrun = "true"\nper_target = true\n'
    # Submitting plans the ops: one RUN op per target, 20,000 op rows by default.
    job_id = Actions(store, Actor("bench")).submit(parse_definition(text, "big.toml"), keep=True)
    store.engine.dispose()
    return job_id


def time_show(url: str, job_id: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "jobtui.cli", "show", str(job_id), "--db", url, "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


async def time_pane(url: str, targets: int) -> tuple[float, float]:
    """How soon the pane shows its first task, and then how soon `end` in its tasks table shows the
    last one (a window read off the UI thread)."""
    from jobtui.widgets.task_table import TaskTable

    app = JobtuiApp(Store(url), Actor("bench"), embedded=False, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        started = time.perf_counter()
        while time.perf_counter() - started < 120:
            await pilot.pause(0.02)
            tables = app.screen.query("#tasks-table")
            if tables and tables.first(TaskTable).get_row_at(0):
                break
        else:
            raise SystemExit("the detail pane never showed a task")
        pane_s = time.perf_counter() - started
        table = tables.first(TaskTable)
        table.focus()
        started = time.perf_counter()
        await pilot.press("end")
        while not table.get_row_at(targets - 1):
            if time.perf_counter() - started > 60:
                raise SystemExit("the tasks table never showed the last task")
            await pilot.pause(0.01)
        return pane_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'big.db'}"
        job_id = make_job(url, args.targets)
        show_s = time_show(url, job_id)
        pane_s, end_s = asyncio.run(time_pane(url, args.targets))
    print(f"targets={args.targets} show_s={show_s:.2f} pane_s={pane_s:.2f} end_s={end_s:.2f}")


if __name__ == "__main__":
    main()
