"""When the dashboard alerts its operator: a job they may see entered a status that needs them, while the
dashboard was open. At most one alert a second: what comes meanwhile waits, and a burst is told as one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jobtui.engine.domain.states import Status

DEFAULT_ALERT_STATUSES: frozenset[str] = frozenset(
    status.value for status in (Status.TRAPPED, Status.ABEND, Status.ERROR, Status.APPROVAL)
)
MIN_INTERVAL_S = 1.0
# How long an entry the operator's own action leads to is expected (the poller sees it within a second or
# two; a busy database may take longer).
EXPECTED_FOR_S = 30.0


@dataclass(frozen=True)
class AlertSettings:
    enabled: bool = True
    statuses: frozenset[str] = DEFAULT_ALERT_STATUSES


@dataclass(frozen=True)
class Entered:
    """A job that entered an alerting status (at `since`)."""

    job_id: int
    name: str
    status: str
    since: datetime | None


class AlertGate:
    """Holds what entered an alerting status until an alert may go (`due`, given the monotonic clock)."""

    def __init__(self, interval_s: float = MIN_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._pending: list[Entered] = []
        self._told: set[tuple[int, str, datetime | None]] = set()
        self._last: float | None = None
        self._expected: dict[int, tuple[str, float]] = {}

    def expect(self, job_id: int, status: str, now: float) -> None:
        """This dashboard's operator just did what puts the job in `status` (resuming a paused trap puts it
        back in TRAPPED): that entry is theirs, no news to alert them about."""
        self._expected[job_id] = (status, now + EXPECTED_FOR_S)

    def offer(self, entered: Iterable[Entered], now: float | None = None) -> None:
        """Jobs seen in an alerting status; each entry into a status is told once, however often seen."""
        for one in entered:
            key = (one.job_id, one.status, one.since)
            if key not in self._told:
                self._told.add(key)
                if not self._was_expected(one, now):
                    self._pending.append(one)

    def _was_expected(self, one: Entered, now: float | None) -> bool:
        status, until = self._expected.get(one.job_id, ("", 0.0))
        if now is None or now > until or one.status != status:
            return False
        del self._expected[one.job_id]
        return True

    def due(self, now: float) -> list[Entered]:
        """What to alert about now: everything waiting, in one alert, once a second at most."""
        if not self._pending or (self._last is not None and now - self._last < self.interval_s):
            return []
        self._last = now
        taken, self._pending = self._pending, []
        return taken
