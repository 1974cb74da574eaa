"""Benchmark smoke run for CI: each benchmark at a small size, failing only when a figure is off by 3x
from its reference (so a regression shows without flaky timing thresholds).

    python bench/quick.py

Prints the figures of every benchmark it runs, then one verdict line per figure; exits 1 if any figure
is more than TOLERANCE (3) times worse than its reference.

A figure is judged against what the machine does right now: beside each benchmark, in the same run, a
yardstick without jobtui (bench/calibration.py: a bare spawn loop, plain sqlite3 or psycopg writes, a
pure-Python loop) is measured, and the reference is scaled by how that yardstick compares with its own
reference. Both references were measured together on one 2-core machine; a machine twice as slow (as some
here are: the same drain measured 4,900 and 1,900 jobs/s on two of them) halves what a drain must reach,
while jobtui's own regression, which leaves the yardstick alone, still shows.
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
    reference: float  # the README's table
    higher_is_better: bool
    # The bench/calibration.py yardstick measured beside it (its reading on the README's machine: YARDSTICKS).
    yardstick: str | None = None
    # The script's option for a PostgreSQL URL; the run gets a fresh database in quick.py's cluster.
    pg_option: str | None = None
    # Below this a time is noise on a shared machine (a scheduler tick, a busy neighbour): both the figure
    # and the reference count as at least this much.
    floor: float = 0.0

    def expected(self, yardstick_now: float | None) -> float:
        """The reference on the machine as it is now: a rate scaled by the yardstick's rate, a time by its
        time (both the same way: a yardstick twice as slow halves a rate and doubles a time). Only ever
        eased: a machine faster than the README's is held to the README's figures themselves."""
        if self.yardstick is None or yardstick_now is None:
            return self.reference
        slower_by = yardstick_now / YARDSTICKS[self.yardstick]
        if self.higher_is_better:
            return self.reference * min(1.0, slower_by)
        return self.reference * max(1.0, slower_by)

    def off_by(self, value: float, yardstick_now: float | None) -> float:
        expected = self.expected(yardstick_now)
        if self.higher_is_better:
            return expected / value
        return max(value, self.floor) / max(expected, self.floor)


# What each yardstick read, or would have read, on the machine of the README's figures. That machine was
# not at hand when the yardsticks came: each is this session's reading times the README figure over this
# session's figure beside it (medians of three quick.py runs, 2026-12-07 00:00-00:05, load 0.3-1.5, on a
# machine two to three times slower: the no-op drain 1,660-1,990 jobs/s, first paint 1.03-1.17 s).
YARDSTICKS = {
    "sqlite": 53_000.0,  # jobs/s (here 14,800-22,700 beside the no-op drain's 1,660-1,990)
    "spawn": 5_600.0,  # spawns/s (here 1,950-1,990 beside the `true` drain's 400-430)
    "postgresql": 3_200.0,  # jobs/s (here 1,250-1,300 beside 1,100-1,235)
    "cpu": 0.043,  # s (here 0.09-0.13 beside first paint's 1.03-1.17 s)
}
# How far off its reference a figure may be on a noisy shared machine before it counts as a regression.
TOLERANCE = 3.0
PG, PG_STOP = "--db", "--pg-db"  # on PostgreSQL (the option for a database URL)
NOOP_DRAIN = ("--jobs", "400", "--workers", "2", "--op", "noop")
TRUE_DRAIN = ("--jobs", "200", "--workers", "2", "--op", "true")
LATENESS = ("--jobs", "100", "--lead", "3")
KILL, STOP = ("--part", "kill", "--repeat", "2"), ("--part", "stop", "--repeat", "1")
PAINT = ("--jobs", "1000", "--presses", "20")
FIGURES = (
    # Drains on the drain matrix's two-slot row.
    Figure("engine_drain.py", NOOP_DRAIN, "jobs_per_s", 4910.0, True, "sqlite"),
    Figure("engine_drain.py", TRUE_DRAIN, "jobs_per_s", 1227.0, True, "spawn"),
    Figure("engine_drain.py", NOOP_DRAIN, "jobs_per_s", 3034.0, True, "postgresql", PG),
    Figure("lateness.py", LATENESS, "lateness_p99_s", 0.08, False, "cpu", floor=0.2),
    Figure("abend_detection.py", KILL, "kill9_abend_s", 0.03, False, "cpu", floor=0.1),
    # Mostly the lease (a heartbeat older than it): no yardstick.
    Figure("abend_detection.py", STOP, "sigstop_abend_s", 2.75, False, pg_option=PG_STOP),
    Figure("dashboard_paint.py", PAINT, "process_first_paint_s", 0.36, False, "cpu"),
    Figure("dashboard_paint.py", PAINT, "rss_mb", 87.0, False),  # memory: no yardstick
    Figure("dashboard_sort.py", ("--jobs", "20000", "--runs", "1"), "worst_sort_s", 0.094, False, "cpu"),
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


def run_beside_yardstick(
    name: str, pg_url: str | None, script: str, args: tuple[str, ...]
) -> tuple[float, dict[str, float]]:
    """The script's figures and the yardstick `name` read just before and just after it (their geometric
    mean: the machine's load may change while a benchmark runs)."""
    from bench.calibration import measure as yardstick

    before = yardstick(name, pg_url)
    figures = run(script, args)
    after = yardstick(name, pg_url)
    now = (before * after) ** 0.5
    print(f"quick yardstick {name} {before:.4g} / {after:.4g}")
    return now, figures


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
    results: dict[tuple[str, tuple[str, ...], str | None], tuple[float | None, dict[str, float]]] = {}
    failed = False
    with postgresql(any(f.pg_option for f in FIGURES)) as new_pg_database:
        for figure in FIGURES:
            run_key = (figure.script, figure.args, figure.pg_option)
            if figure.pg_option and isinstance(new_pg_database, str):
                print(f"quick {figure.key} skipped: {new_pg_database}")
                continue
            if run_key not in results:
                args = figure.args
                pg_url = None
                if figure.pg_option and not isinstance(new_pg_database, str):
                    pg_url = new_pg_database()
                    args = (*args, figure.pg_option, pg_url)
                if figure.yardstick is None:
                    results[run_key] = (None, run(figure.script, args))
                else:
                    results[run_key] = run_beside_yardstick(figure.yardstick, pg_url, figure.script, args)
            yardstick_now, figures = results[run_key]
            value = figures[figure.key]
            off = figure.off_by(value, yardstick_now)
            verdict = "ok" if off <= TOLERANCE else f"REGRESSION (more than {TOLERANCE}x off its reference)"
            failed = failed or off > TOLERANCE
            expected = figure.expected(yardstick_now)
            now_and_then = f"{expected:.4g} on this machine now ({figure.reference:g} then)"
            print(f"quick {figure.key} {value:g} reference {now_and_then} {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
