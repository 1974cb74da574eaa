"""Silence counted only over the time the observer could reach the database itself."""

from __future__ import annotations

from jobtui.engine.domain.reachability import Reachability


def _with_outage(start: float, end: float) -> Reachability:
    reach = Reachability()
    reach.reached(start)
    reach.failed()
    assert reach.reached(end) == end - start  # how long it was cut off
    return reach


def test_time_cut_off_is_not_heard() -> None:
    reach = _with_outage(10.0, 50.0)
    assert reach.heard_for(5.0, 60.0) == 5.0 + 10.0
    assert reach.heard_for(55.0, 60.0) == 5.0
    assert reach.reached(61.0) is None  # said once


def test_an_outage_going_on_is_not_heard_either() -> None:
    reach = Reachability()
    reach.reached(10.0)
    reach.failed()
    assert reach.cut_off
    assert reach.heard_for(0.0, 100.0) == 10.0


def test_the_window_reaches_back_over_outages() -> None:
    reach = _with_outage(10.0, 50.0)
    assert reach.window_start(60.0, 30.0) == 10.0 - 20.0  # 10 s heard since it was back, 20 s before
    assert reach.window_start(100.0, 30.0) == 70.0  # back long enough: as if nothing happened
    assert Reachability().window_start(100.0, 30.0) == 70.0
