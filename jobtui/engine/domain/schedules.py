"""A job's schedule as resolved at submission (seed 003): when it may run, when it expires, when a failed
task is tried again. The definition keeps the text ("+2h", "tomorrow 02:00"); the job keeps the instants.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

import pendulum

from jobtui.engine.domain.definitions import DEFAULT_EXPIRES, Definition
from jobtui.engine.domain.timeparse import (
    TimeParseError,
    format_duration,
    local_zone_name,
    parse_max_start,
    parse_when,
)
from jobtui.engine.domain.windows import WEEKDAYS, DailyWindow, ScheduleWindow, parse_clock, parse_days

# A job with no `expires` still needs a horizon for "when does the window open next".
_FAR = dt.timedelta(days=3650)


@dataclass(frozen=True)
class JobSchedule:
    mode: str  # "now" (fire-and-forget) or "window"
    timezone: str
    start: pendulum.DateTime
    expires: pendulum.DateTime | None  # None: a classic job, which never retries
    window: tuple[str, str] | None
    days: tuple[str, ...]
    retry_every_s: float

    @property
    def windowed(self) -> bool:
        return self.mode == "window"

    @property
    def retries(self) -> bool:
        return self.retry_every_s > 0 and self.expires is not None

    def to_json(self) -> str:
        return json.dumps(
            {
                "mode": self.mode,
                "timezone": self.timezone,
                "start": self.start.isoformat(),
                "expires": self.expires.isoformat() if self.expires else None,
                "window": list(self.window) if self.window else None,
                "days": list(self.days),
                "retry_every_s": self.retry_every_s,
            }
        )

    @classmethod
    def from_json(cls, text: str | None) -> JobSchedule | None:
        if not text:
            return None
        data = json.loads(text)
        window = data.get("window")
        expires = data.get("expires")
        return cls(
            mode=str(data["mode"]),
            timezone=str(data["timezone"]),
            start=_utc(data["start"]),
            expires=_utc(expires) if expires else None,
            window=(str(window[0]), str(window[1])) if window else None,
            days=tuple(data.get("days", ())),
            retry_every_s=float(data.get("retry_every_s", 0.0)),
        )

    def _window(self) -> ScheduleWindow:
        daily = DailyWindow(parse_clock(self.window[0]), parse_clock(self.window[1])) if self.window else None
        return ScheduleWindow(
            timezone=self.timezone,
            window=daily,
            days=parse_days(list(self.days)) if self.days else frozenset(range(7)),
            start=self.start,
            expires=self.expires or self.start + _FAR,
        )

    def is_open(self, at: pendulum.DateTime) -> bool:
        """May a new op start at `at`? Fire-and-forget jobs are always open; windows only inside."""
        if not self.windowed:
            return True
        return self._window().is_open(at)

    def next_open(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        """`at` when open, else the next opening; None when the schedule never opens again."""
        if not self.windowed:
            return at
        return self._window().next_open(at)

    def closes_at(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        return self._window().closes_at(at) if self.windowed else None

    def next_attempt(self, failed_at: pendulum.DateTime) -> pendulum.DateTime | None:
        """When a task that failed at `failed_at` is tried again, or None when it is failed for good."""
        if self.retry_every_s <= 0 or self.expires is None:
            return None
        candidate = self.next_open(failed_at.add(seconds=self.retry_every_s))
        if candidate is None or candidate >= self.expires:
            return None
        return candidate

    def expired(self, at: pendulum.DateTime) -> bool:
        return self.expires is not None and at >= self.expires

    def moved(self, delta: dt.timedelta) -> JobSchedule:
        return replace(self, start=self.start + delta, expires=self.expires + delta if self.expires else None)

    def view(self, next_run_at: pendulum.DateTime | None) -> dict[str, Any]:
        """The `schedule` object of `jobtui show --json` (contract keys)."""
        return {
            "mode": self.mode,
            "timezone": self.timezone,
            "window": {"from": self.window[0], "to": self.window[1]} if self.window else None,
            "days": list(self.days) or list(WEEKDAYS),
            "start": self.start.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "retry_every": format_duration(self.retry_every_s),
            "next_run_at": next_run_at.isoformat() if next_run_at else None,
        }


@dataclass(frozen=True)
class ResolvedSchedule:
    scheduled_at: pendulum.DateTime  # the RUN date
    max_start_at: pendulum.DateTime  # RUN must have started by then, or the job is EXPIRED
    due_at: pendulum.DateTime  # when the engine first picks the job up
    schedule: JobSchedule


def resolve(
    definition: Definition, now: pendulum.DateTime, at: str | None = None, max_start: str | None = None
) -> ResolvedSchedule:
    """Turn the definition's schedule text into instants, counting relative forms from `now`.

    Raises ValueError naming the definition file and the field when the dates contradict each other.
    """
    spec = definition.schedule
    zone = spec.timezone or local_zone_name()
    where = f"{definition.source}: [schedule]"
    if spec.mode == "window":
        start = parse_when(at or spec.start or "now", now, zone)
        until = _expiry(spec.expires, DEFAULT_EXPIRES["window"], start, now, zone)
        if until <= start:
            raise ValueError(
                f'{where} "expires" {until.isoformat()} is not after "start" {start.isoformat()}'
            )
        schedule = JobSchedule("window", zone, start, until, spec.window, spec.days, spec.retry_every_s)
        first = schedule.next_open(max(start, now))
        if first is None:
            raise ValueError(
                f'{where} "window": never open between {start.isoformat()} and {until.isoformat()}'
            )
        return ResolvedSchedule(first, until, first, schedule)

    scheduled = parse_when(at or spec.at, now, zone)
    max_start_at = parse_max_start(max_start or spec.max_start, scheduled, now, zone)
    if max_start_at < scheduled:
        raise ValueError(
            f'{where} "max_start" {max_start_at.isoformat()} is before '
            f"the scheduled date {scheduled.isoformat()}"
        )
    expires: pendulum.DateTime | None = None
    retry_every_s = 0.0
    if spec.retrying:
        expires = _expiry(spec.expires, DEFAULT_EXPIRES["now"], scheduled, now, zone)
        if expires < scheduled:
            raise ValueError(
                f'{where} "expires" {expires.isoformat()} is before '
                f"the scheduled date {scheduled.isoformat()}"
            )
        retry_every_s = spec.retry_every_s
    schedule = JobSchedule("now", zone, scheduled, expires, None, (), retry_every_s)
    return ResolvedSchedule(scheduled, max_start_at, now, schedule)


def _expiry(
    text: str | None, default: str, start: pendulum.DateTime, now: pendulum.DateTime, zone: str
) -> pendulum.DateTime:
    """The default counts from the start; a written one from submission; a bare date means its end."""
    if text is None:
        return parse_when(default, start, zone)
    when = parse_when(text, now, zone)
    if _is_bare_date(text):
        local = when.in_tz(zone)
        try:
            return pendulum.datetime(local.year, local.month, local.day, tz=zone).add(days=1).in_tz("UTC")
        except OverflowError:
            raise TimeParseError(f'"{text}" is outside the calendar jobtui can schedule on') from None
    return when


def _is_bare_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _utc(text: str) -> pendulum.DateTime:
    parsed = pendulum.parse(text)
    assert isinstance(parsed, pendulum.DateTime)
    return parsed.in_tz("UTC")
