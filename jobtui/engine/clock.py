"""Injectable time source: the engine never reads the wall clock directly, so tests can drive it."""

from __future__ import annotations

import threading
from typing import Protocol

import pendulum


class Clock(Protocol):
    def now(self) -> pendulum.DateTime: ...


class SystemClock:
    def now(self) -> pendulum.DateTime:
        return pendulum.now("UTC")


class FakeClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: pendulum.DateTime | None = None) -> None:
        self._now = (start or pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")).in_timezone("UTC")
        self._lock = threading.Lock()

    def now(self) -> pendulum.DateTime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> pendulum.DateTime:
        with self._lock:
            self._now = self._now.add(microseconds=int(seconds * 1_000_000))
            return self._now

    def set(self, when: pendulum.DateTime) -> None:
        with self._lock:
            self._now = when.in_timezone("UTC")
