"""Benchmark smoke run for CI: each benchmark at a small size, failing only when a figure is off by 3x
from the README's table (so a regression shows without flaky timing thresholds).

    python bench/quick.py

Prints the figures of every benchmark it runs, then one verdict line per figure; exits 1 if any figure
is more than TOLERANCE (3) times worse than the reference below (the README's measurements on the 2-core
machine).
Figures on PostgreSQL share one throwaway cluster started here (each run gets a fresh database in it); they
are skipped, as the PostgreSQL tests are, when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


@dataclass(frozen=True)
class Figure:
    script: str
    args: tuple[str, ...]
    key: str  # the name printed as key=value on the script's last line
    reference: float  # README table
    higher_is_better: bool
    # The script's option for a PostgreSQL URL; the run gets a fresh database in quick.py's cluster.
    pg_option: str | None = None
    # Below this a time is noise on a shared machine (a scheduler tick, a busy neighbour): both the figure
    # and the reference count as at least this much.
    floor: float = 0.0


# How far off the README a figure may be on a noisy shared machine before it counts as a regression.
TOLERANCE = 3.0
PG, PG_STOP = "--db", "--pg-db"  # on PostgreSQL (the option for a database URL)
NOOP_DRAIN = ("--jobs", "400", "--workers", "2", "--op", "noop")
FIGURES = (
    # Drains against the README's two-slot row of the drain matrix.
    Figure("engine_drain.py", NOOP_DRAIN, "jobs_per_s", 4910.0, True),
    Figure(
        "engine_drain.py", ("--jobs", "200", "--workers", "2", "--op", "true"), "jobs_per_s", 1227.0, True
    ),
    Figure("engine_drain.py", NOOP_DRAIN, "jobs_per_s", 3034.0, True, PG),
    Figure("lateness.py", ("--jobs", "100", "--lead", "3"), "lateness_p99_s", 0.08, False, floor=0.2),
    Figure(
        "abend_detection.py", ("--part", "kill", "--repeat", "2"), "kill9_abend_s", 0.03, False, floor=0.1
    ),
    Figure(
        "abend_detection.py", ("--part", "stop", "--repeat", "1"), "sigstop_abend_s", 2.75, False, PG_STOP
    ),
    Figure("dashboard_paint.py", ("--jobs", "1000", "--presses", "20"), "process_first_paint_s", 0.36, False),
    Figure("dashboard_paint.py", ("--jobs", "1000", "--presses", "20"), "rss_mb", 87.0, False),
    Figure("dashboard_sort.py", ("--jobs", "20000", "--runs", "1"), "worst_sort_s", 0.094, False),
)


def run(script: str, args: tuple[str, ...]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=300
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{script} failed with exit code {proc.returncode}")
    print(f"quick took {time.perf_counter() - started:.1f}s for {script}")
    last = proc.stdout.strip().splitlines()[-1]
    return {key: float(value) for key, value in re.findall(r"(\w+)=([0-9.eE+-]+)", last)}


@contextlib.contextmanager
def postgresql(needed: bool) -> Iterator[Callable[[], str] | str]:
    """A function making a fresh database in a throwaway cluster, or why there is none."""
    if not needed:
        yield "not needed"
        return
    from bench.engine_common import pg_cluster
    from tests.support.pg import missing_reason

    reason = missing_reason()
    if reason is not None:
        yield reason
        return
    with pg_cluster() as new_database:
        yield new_database


def main() -> int:
    results: dict[tuple[str, tuple[str, ...], str | None], dict[str, float]] = {}
    failed = False
    with postgresql(any(f.pg_option for f in FIGURES)) as new_pg_database:
        for figure in FIGURES:
            run_key = (figure.script, figure.args, figure.pg_option)
            if figure.pg_option and isinstance(new_pg_database, str):
                print(f"quick {figure.key} skipped: {new_pg_database}")
                continue
            if run_key not in results:
                args = figure.args
                if figure.pg_option and not isinstance(new_pg_database, str):
                    args = (*args, figure.pg_option, new_pg_database())
                results[run_key] = run(figure.script, args)
            value = results[run_key][figure.key]
            if figure.higher_is_better:
                ratio = figure.reference / value
            else:
                ratio = max(value, figure.floor) / max(figure.reference, figure.floor)
            verdict = "ok" if ratio <= TOLERANCE else f"REGRESSION (more than {TOLERANCE}x off the README)"
            failed = failed or ratio > TOLERANCE
            print(f"quick {figure.key} {value:g} reference {figure.reference:g} {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
