"""bench/quick.py judges a figure against what the machine does now: a slow machine eases the README's
reference by its yardstick, jobtui's own regression (which leaves the yardstick alone) still fails, and a
fast machine is held to the README's figure itself."""

from __future__ import annotations

import pytest

from bench.quick import FIGURES, TOLERANCE, YARDSTICKS, Figure


def figure(key: str) -> Figure:
    return next(f for f in FIGURES if f.key == key and f.yardstick is not None)


def test_a_drain_on_a_machine_half_as_fast_is_held_to_half_the_readme_figure() -> None:
    drain = figure("jobs_per_s")
    half_speed = YARDSTICKS[drain.yardstick or ""] / 2
    assert drain.expected(half_speed) == pytest.approx(drain.reference / 2)
    assert drain.off_by(drain.reference / 2, half_speed) <= 1.0
    # jobtui four times slower than that machine allows: a regression, whatever the machine.
    assert drain.off_by(drain.reference / 8, half_speed) > TOLERANCE


def test_a_faster_machine_is_held_to_the_readme_figure_not_a_stricter_one() -> None:
    drain = figure("jobs_per_s")
    assert drain.expected(YARDSTICKS[drain.yardstick or ""] * 4) == drain.reference
    paint = figure("process_first_paint_s")
    assert paint.expected(YARDSTICKS["cpu"] / 4) == paint.reference


def test_a_time_on_a_slower_machine_may_take_longer_in_proportion() -> None:
    paint = figure("process_first_paint_s")
    three_times_slower = YARDSTICKS["cpu"] * 3
    assert paint.off_by(paint.reference * 3, three_times_slower) == pytest.approx(1.0)
    on_the_readmes_machine = YARDSTICKS["cpu"]  # the same time there: three times off
    assert paint.off_by(paint.reference * 3, on_the_readmes_machine) == pytest.approx(3.0)
    assert paint.off_by(paint.reference * 10, three_times_slower) > TOLERANCE


def test_a_figure_without_a_yardstick_keeps_the_readme_reference() -> None:
    rss = next(f for f in FIGURES if f.key == "rss_mb")
    assert rss.yardstick is None and rss.expected(None) == rss.reference == rss.expected(123.0)
