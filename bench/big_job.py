"""A job with many targets: how long `jobtui show --json` takes and how soon the dashboard's detail pane
shows its first tasks (issue 14: 20,000 targets took 218 s to show and minutes to fill the pane).

    python bench/big_job.py [--targets 20000]

The job's RUN ops are planned straight into the database (as the engine plans them when RUN starts), so
the figures measure reading and drawing a finished-size job, not running 20,000 processes. Prints
`show_s=… pane_s=…` on its last line.
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
from jobtui.engine.db.models import Task  # noqa: E402
from jobtui.engine.db.store import Store  # noqa: E402
from jobtui.engine.domain.permissions import Actor  # noqa: E402
from jobtui.engine.domain.states import Step  # noqa: E402
from jobtui.engine.formats.definition_file import parse_definition  # noqa: E402
from jobtui.engine.service.actions import Actions  # noqa: E402
from jobtui.engine.worker import pipeline  # noqa: E402


def make_job(url: str, targets: int) -> int:
    store = Store(url)
    names = ", ".join(f'"host-{n}"' for n in range(targets))
    definition = parse_definition(f'name = "big"\ntargets = [{names}]\n[[run]]\nrun = "true"\n', "big.toml")
    job_id = Actions(store, Actor("bench")).submit(definition, keep=True)
    from sqlalchemy import insert
    from sqlmodel import col, select

    from jobtui.engine.db.models import OP_RUNS

    with store.write() as s:
        task_ids = list(s.exec(select(Task.id).where(Task.job_id == job_id).order_by(col(Task.position))))
        rows = pipeline.plan_rows(definition, job_id, 1, task_ids, Step.RUN)
        s.execute(insert(OP_RUNS), rows)
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


async def time_pane(url: str) -> float:
    from textual.widgets import DataTable

    app = JobtuiApp(Store(url), Actor("bench"), embedded=False, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        started = time.perf_counter()
        while time.perf_counter() - started < 120:
            await pilot.pause(0.02)
            tables = app.screen.query("#tasks-table")
            if tables and tables.first(DataTable).row_count > 0:
                return time.perf_counter() - started
    raise SystemExit("the detail pane never showed a task")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'big.db'}"
        job_id = make_job(url, args.targets)
        show_s = time_show(url, job_id)
        pane_s = asyncio.run(time_pane(url))
    print(f"targets={args.targets} show_s={show_s:.2f} pane_s={pane_s:.2f}")


if __name__ == "__main__":
    main()
