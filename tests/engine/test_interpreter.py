"""An engine that runs tunes its process's interpreter for throughput (engine/worker/interpreter.py): a
slot waits at most 1 ms for the lock to start its next op, and the collector no longer runs many times a
pass to free nothing; a choice the program around it made (a collector turned off) stays."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.worker import interpreter
from jobtui.engine.worker.loop import Engine


@pytest.fixture(autouse=True)
def interpreter_defaults() -> Iterator[None]:
    """Python's defaults before each test, and whatever the process had back after it."""
    interval, threshold, enabled = sys.getswitchinterval(), gc.get_threshold(), gc.isenabled()
    sys.setswitchinterval(0.005)
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*threshold)
        (gc.enable if enabled else gc.disable)()


def test_a_running_engine_shortens_the_switch_interval_and_collects_less_often(store: Store) -> None:
    stop = threading.Event()
    stop.set()  # one look at the loop, then it stops
    Engine(store, workers=1).run(stop)
    assert sys.getswitchinterval() == pytest.approx(interpreter.SWITCH_INTERVAL_S, rel=0.01)
    assert gc.get_threshold() == (interpreter.YOUNGEST_THRESHOLD, 10, 10)


def test_tuning_keeps_what_the_program_chose() -> None:
    sys.setswitchinterval(0.0002)
    gc.set_threshold(0)  # the collector turned off by threshold
    interpreter.tune()
    assert sys.getswitchinterval() == pytest.approx(0.0002, rel=0.01)
    assert gc.get_threshold()[0] == 0
    gc.set_threshold(50_000, 20, 20)
    interpreter.tune()
    assert gc.get_threshold() == (50_000, 20, 20)
