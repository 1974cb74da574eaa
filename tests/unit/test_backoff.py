"""Trying an unreachable database again: 0.5 s, doubling, at most 15 s apart, everywhere (the change
listener waited 16 s, then 30 s, while README says 15 s at most)."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from jobtui.engine.db.wakeups import Listener
from jobtui.engine.domain.reachability import BACKOFF_MAX_S, backoff_after


def test_the_backoff_doubles_up_to_15_s() -> None:
    assert [backoff_after(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert backoff_after(10_000) == BACKOFF_MAX_S


class _CountedStop(threading.Event):
    """The listener's stop event: records each wait instead of waiting, and stops it after `rounds`."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.rounds = rounds

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


def test_the_change_listener_backs_off_at_most_15_s(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nothing listens on: each connection is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    listener = Listener(f"postgresql://nobody@127.0.0.1:{port}/x", lambda: None)
    stop = _CountedStop(rounds=8)
    listener._stop = stop
    with caplog.at_level(logging.INFO, logger="jobtui.wakeups"):
        listener._run()
    assert stop.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert "retrying in 15.0s" in caplog.text and "retrying in 16.0s" not in caplog.text
