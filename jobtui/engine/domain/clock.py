"""Injectable time source: the engine never reads the wall clock directly, so tests can drive it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import pendulum


class Clock(Protocol):
    def now(self) -> pendulum.DateTime: ...

    def elapsed(self) -> float:
        """Seconds on a clock that only moves forward at the pace of time (monotonic): what intervals
        (heartbeats, leases) are measured with, so that a step of the wall clock moves none of them."""
        ...


class SystemClock:
    def now(self) -> pendulum.DateTime:
        return pendulum.now("UTC")

    def elapsed(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self._now = (start or pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")).in_timezone("UTC")
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> pendulum.DateTime:
        with self._lock:
            return self._now

    def elapsed(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> pendulum.DateTime:
        """Time passes: the wall clock and the monotonic one move together."""
        with self._lock:
            self._now = self._now.add(microseconds=int(seconds * 1_000_000))
            self._elapsed += seconds
            return self._now

    def set(self, when: pendulum.DateTime) -> None:
        """The wall clock is set (a step, as NTP or an operator does): no time passes."""
        with self._lock:
            self._now = when.in_timezone("UTC")


class DatabaseClock:
    """The database server's clock, so that hosts with skewed clocks agree on deadlines and heartbeats.

    Asking the server at every call would cost a round trip per timestamp; the offset to this host's
    clock is measured every `refresh_s` instead (a skew drifts far slower than that).
    """

    def __init__(self, read_server_time: Callable[[], pendulum.DateTime], refresh_s: float = 30.0) -> None:
        self._read = read_server_time
        self._refresh_s = refresh_s
        self._offset: pendulum.Duration | None = None
        self._measured_at = 0.0
        self._lock = threading.Lock()

    def now(self) -> pendulum.DateTime:
        local = pendulum.now("UTC")
        with self._lock:
            if self._offset is None or time.monotonic() - self._measured_at > self._refresh_s:
                try:
                    before = pendulum.now("UTC")
                    server = self._read()
                    after = pendulum.now("UTC")
                    self._offset = server - (before + (after - before) / 2)
                    self._measured_at = time.monotonic()
                except Exception:  # unreachable: keep the last offset; the caller's query fails anyway
                    if self._offset is None:
                        return local
            return local + self._offset

    def elapsed(self) -> float:
        return time.monotonic()
