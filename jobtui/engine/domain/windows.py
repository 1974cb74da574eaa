"""Time-window math for job schedules: when a schedule may run, in real (UTC) instants.

Windows are written as wall-clock times in the schedule's zone, so DST transitions must be resolved
deliberately. The rules: a wall time inside a spring-forward gap means the first valid instant after
the gap (the transition itself); a wall time in a fall-back repeated hour means its first pass, so a
repeated hour is never run twice. pendulum gets both wrong for this purpose (``pendulum.datetime``
shifts gap times forward by the gap length and picks the *second* pass of a repeated hour), so the
resolution below uses the stdlib ``zoneinfo`` directly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pendulum

__all__ = ["WEEKDAYS", "DailyWindow", "ScheduleWindow", "parse_clock", "parse_days"]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Scans are day by day; this bounds them so a schedule that never opens cannot hang a caller.
_MAX_DAYS = 800
_ONE_DAY = dt.timedelta(days=1)
_MIDNIGHT = dt.time(0)
# 0-9 only: \\d takes any script's digits ("２２:００"), which no other time jobtui reads does.
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_Interval = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class DailyWindow:
    opens: dt.time
    closes: dt.time  # <= opens: closes on the next local day; == opens: a 24-hour window


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        # A naive instant would silently be read in the machine's zone; refuse rather than guess.
        raise ValueError(f"{at.isoformat()} has no timezone; schedule windows need aware instants")
    return at.astimezone(dt.UTC)


def _pendulum(at: dt.datetime) -> pendulum.DateTime:
    return pendulum.instance(at).in_timezone("UTC")


def resolve_wall_time(day: dt.date, wall: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """The UTC instant of `wall` on `day`: first pass if repeated, transition instant if skipped."""
    naive = dt.datetime.combine(day, wall.replace(tzinfo=None))
    after = naive.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if after.astimezone(zone).replace(tzinfo=None) == naive:
        return after  # exists; for a repeated wall time fold=0 is the earlier pass
    # Skipped wall time: zoneinfo reads it with the pre-gap offset for fold=0 (an instant after the
    # transition) and the post-gap offset for fold=1 (an instant before it), so the transition lies
    # between the two and bisection finds it in a few dozen steps whatever the gap's size.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > dt.timedelta(microseconds=1):
        mid = before + (after - before) // 2
        if mid.astimezone(zone).utcoffset() == offset_after:
            after = mid
        else:
            before = mid
    return after


@dataclass(frozen=True)
class ScheduleWindow:
    timezone: str
    window: DailyWindow | None  # None: the whole allowed day, midnight to midnight
    days: frozenset[int]  # weekdays of the local date the interval *opens* on, Monday=0
    start: pendulum.DateTime
    expires: pendulum.DateTime

    def __post_init__(self) -> None:
        # Fail at construction so a typo in a definition is reported once, not on every tick.
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f'"{self.timezone}" is not a known timezone (try "Europe/Zurich")') from exc
        _utc(self.start)
        _utc(self.expires)

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances, so this is cheap

    def _interval(self, day: dt.date) -> _Interval | None:
        """The clipped interval opening on local `day`, or None when there is none."""
        if day.weekday() not in self.days:
            return None
        opens, closes = (self.window.opens, self.window.closes) if self.window else (_MIDNIGHT, _MIDNIGHT)
        close_day = day if closes > opens else day + _ONE_DAY
        lo = max(resolve_wall_time(day, opens, self._zone), _utc(self.start))
        hi = min(resolve_wall_time(close_day, closes, self._zone), _utc(self.expires))
        # Empty when clipped away, or when the whole window fell inside a spring-forward gap.
        return (lo, hi) if lo < hi else None

    def _containing(self, at: dt.datetime) -> tuple[dt.date, _Interval] | None:
        today = at.astimezone(self._zone).date()
        # Intervals last at most a day (plus a DST hour), so only nearby opening dates can hold `at`.
        for back in (2, 1, 0, -1):
            day = today - back * _ONE_DAY
            interval = self._interval(day)
            if interval and interval[0] <= at < interval[1]:
                return day, interval
        return None

    def interval_at(self, at: pendulum.DateTime) -> tuple[pendulum.DateTime, pendulum.DateTime] | None:
        """The open run containing `at`, with touching daily intervals merged, in UTC; None if closed."""
        found = self._containing(_utc(at))
        if found is None:
            return None
        day, (lo, hi) = found
        # Back-to-back intervals (24-hour windows) are one run to a caller, so the run's ends are
        # found by walking outwards while neighbours still touch.
        for step in range(1, _MAX_DAYS):
            prev = self._interval(day - step * _ONE_DAY)
            if prev is None or prev[1] < lo:
                break
            lo = min(lo, prev[0])
        for step in range(1, _MAX_DAYS):
            nxt = self._interval(day + step * _ONE_DAY)
            if nxt is None or nxt[0] > hi:
                break
            hi = max(hi, nxt[1])
        return _pendulum(lo), _pendulum(hi)

    def is_open(self, at: pendulum.DateTime) -> bool:
        return self._containing(_utc(at)) is not None

    def next_open(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        """`at` if open then; else the first later opening before `expires`; None if there is none."""
        now = _utc(at)
        if self._containing(now) is not None:
            return _pendulum(now)
        expires = _utc(self.expires)
        # Nothing opens before `start`, so a far-future start should not eat the day budget.
        day = max(now, _utc(self.start)).astimezone(self._zone).date() - 2 * _ONE_DAY
        for _ in range(_MAX_DAYS):
            if resolve_wall_time(day, _MIDNIGHT, self._zone) >= expires:
                return None  # opening instants only grow with the date, so none can follow
            interval = self._interval(day)
            if interval and interval[0] > now:
                return _pendulum(interval[0])
            day += _ONE_DAY
        return None

    def closes_at(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        interval = self.interval_at(at)
        return interval[1] if interval else None

    def last_closed(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        """When the window last closed at or before `at` (clipped to `expires`); None if it never did."""
        now = _utc(at)
        first = _utc(self.start).astimezone(self._zone).date() - 2 * _ONE_DAY
        day = now.astimezone(self._zone).date() + _ONE_DAY
        for _ in range(_MAX_DAYS):
            if day < first:
                return None
            interval = self._interval(day)
            if interval and interval[1] <= now:
                return _pendulum(interval[1])
            day -= _ONE_DAY
        return None


def parse_clock(text: str) -> dt.time:
    """Parse "22:00", "4:00" or "04:00:30"; anything else is a user error worth a clear message."""
    match = _CLOCK.fullmatch(text.strip())
    if match:
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return dt.time(hour, minute, second)
    # "24:00" is the classic way to write end-of-day; point at the spelling that works here.
    hint = "00:00" if match and int(match[1]) == 24 else "22:00"
    raise ValueError(f'"{text}" is not a time of day (try "{hint}")')


def parse_days(values: list[str]) -> frozenset[int]:
    """Weekday names ("mon" or "monday", any case) to Monday=0 indices."""
    names = {name: index for index, name in enumerate(WEEKDAYS)}
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    names.update({name: index for index, name in enumerate(full)})
    days: set[int] = set()
    for value in values:
        index = names.get(value.strip().lower()) if isinstance(value, str) else None
        if index is None:
            raise ValueError(f'"{value}" is not a weekday (use {", ".join(WEEKDAYS)})')
        days.add(index)
    return frozenset(days)
