"""When this process could reach the database, on the monotonic clock (`Clock.elapsed`).

Another process's silence (a worker's heartbeat not moving) says something only over time during which
this one could have heard it: while the database is unreachable every heartbeat stops, this process's
view of them too, and after an outage every heartbeat looks old. An engine judging a worker lost, or a
dashboard judging a daemon stale, counts its silence only over the time it could reach the database
itself (`heard_for`, `window_start`)."""

from __future__ import annotations

import threading
from collections import deque

# Trying an unreachable database again: after 0.5 s, doubling, at most 15 s apart (the engine, the change
# listener, `jobtui log --follow`, a daemon started before its database).
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 15.0

# Outages remembered: silence is counted over the last few only (a worker silent across more of them has
# been silent long enough anyway).
OUTAGES_KEPT = 64


def backoff_after(failures: int) -> float:
    """How long to wait after the `failures`-th failure in a row (1: the first)."""
    return min(BACKOFF_FIRST_S * 2 ** min(max(failures, 1) - 1, 16), BACKOFF_MAX_S)


class Reachability:
    """Each outage runs from the last time this process reached the database before a failure to the
    first time it did again after it: the moments in between are not known to have been reachable."""

    def __init__(self) -> None:
        self._last_ok: float | None = None
        self._cut_off = False
        self._outages: deque[tuple[float, float]] = deque(maxlen=OUTAGES_KEPT)
        self._lock = threading.Lock()

    def reached(self, at: float) -> float | None:
        """This process reached the database at `at`; returns how long it had been cut off, if it was."""
        with self._lock:
            was_out = None
            if self._cut_off and self._last_ok is not None and at > self._last_ok:
                self._outages.append((self._last_ok, at))
                was_out = at - self._last_ok
            self._cut_off = False
            if self._last_ok is None or at > self._last_ok:
                self._last_ok = at
            return was_out

    def failed(self) -> None:
        """This process could not reach the database (a connection refused, lost or timed out)."""
        with self._lock:
            self._cut_off = True

    @property
    def cut_off(self) -> bool:
        with self._lock:
            return self._cut_off

    def _gaps(self, now: float) -> list[tuple[float, float]]:
        gaps = list(self._outages)
        if self._cut_off and self._last_ok is not None and now > self._last_ok:
            gaps.append((self._last_ok, now))  # one going on
        return gaps

    def heard_for(self, since: float, now: float) -> float:
        """The seconds between `since` and `now` during which this process could reach the database."""
        with self._lock:
            total = now - since
            for start, end in self._gaps(now):
                total -= max(0.0, min(end, now) - max(start, since))
            return max(total, 0.0)

    def window_start(self, now: float, span: float) -> float:
        """The moment from which to `now` this process could reach the database for `span` seconds: a
        heartbeat older than it has been silent for longer than `span` by this process's hearing."""
        with self._lock:
            at, left = now, span
            for start, end in reversed(self._gaps(now)):
                if end >= at:  # ongoing or overlapping what was counted already
                    at = min(at, start)
                    continue
                if at - end >= left:
                    return at - left
                left -= at - end
                at = start
            return at - left
