"""Benchmark smoke run for CI: each benchmark at a small size, failing only when a figure is off by 10x
from the README's table (so a regression shows without flaky timing thresholds).

    python bench/quick.py

Prints the figures of every benchmark it runs, then one verdict line per figure; exits 1 if any figure
is more than ten times worse than the reference below (the README's measurements on the 2-core machine).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    script: str
    args: tuple[str, ...]
    key: str  # the name printed as key=value on the script's last line
    reference: float  # README table
    higher_is_better: bool


FIGURES = (
    Figure("engine_drain.py", ("--jobs", "100", "--workers", "2", "--op", "noop"), "jobs_per_s", 43.0, True),
    Figure("dashboard_paint.py", ("--jobs", "1000", "--presses", "20"), "first_paint_s", 0.70, False),
    Figure("dashboard_paint.py", ("--jobs", "1000", "--presses", "20"), "rss_mb", 87.0, False),
)


def run(script: str, args: tuple[str, ...]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=300
    )
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{script} failed with exit code {proc.returncode}")
    last = proc.stdout.strip().splitlines()[-1]
    return {key: float(value) for key, value in re.findall(r"(\w+)=([0-9.eE+-]+)", last)}


def main() -> int:
    results: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}
    failed = False
    for figure in FIGURES:
        run_key = (figure.script, figure.args)
        if run_key not in results:
            results[run_key] = run(figure.script, figure.args)
        value = results[run_key][figure.key]
        ratio = figure.reference / value if figure.higher_is_better else value / figure.reference
        verdict = "ok" if ratio <= 10 else "REGRESSION (more than 10x off the README)"
        failed = failed or ratio > 10
        print(f"quick {figure.key} {value:g} reference {figure.reference:g} {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
