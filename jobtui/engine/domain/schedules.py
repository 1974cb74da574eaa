"""A job's schedule as resolved at submission (seed 003): when it may run, when it expires, when a failed
task is tried again. The definition keeps the text ("+2h", "tomorrow 02:00"); the job keeps the instants.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn

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
from jobtui.engine.errors import BadInput, BadValue

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

    def last_closed(self, at: pendulum.DateTime) -> pendulum.DateTime | None:
        """When the window last closed at or before `at`; None for a fire-and-forget schedule."""
        return self._window().last_closed(at) if self.windowed else None

    def local(self, when: pendulum.DateTime) -> str:
        """An instant as the schedule's own messages say it: in its zone, to the minute."""
        return when.in_tz(self.timezone).format("YYYY-MM-DD HH:mm zz")

    def closed_for_good(self, now: pendulum.DateTime) -> str:
        """Why a windowed job whose window does not open again before it expires ends now, not then."""
        until = f"the job expires at {self.local(self.expires)}" if self.expires else "the schedule ends"
        closed = self.last_closed(now)
        if closed is None:
            return f"the schedule window does not open before {until}"
        return f"the schedule window closed at {self.local(closed)} and does not reopen before {until}"

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
    definition: Definition,
    now: pendulum.DateTime,
    at: str | None = None,
    max_start: str | None = None,
    given_as: Mapping[str, str] | None = None,
) -> ResolvedSchedule:
    """Turn the definition's schedule text into instants, counting relative forms from `now`.

    `at` and `max_start` override the definition's (a window's Max Start Date is its expiry: `max_start`
    replaces that); `given_as` names where they were given ("--at", an
    envelope's `[[jobs]] #2 "at"`), for messages. Raises ValueError naming the field when the dates
    contradict each other, or when the job could never start: its Max Start Date (a window's expiry)
    is already past at submission, so it would expire at once.
    """
    spec = definition.schedule
    zone = spec.timezone or local_zone_name()

    def in_file(key: str, at_line: bool = True) -> str:
        """The definition's field, at its line (`deploy.toml:4: [schedule] "at"`) as the file format's
        own errors are, unless the value is not the file's (replaced at submission)."""
        line = spec.line(key) if at_line else None
        return f'{definition.source}{f":{line}" if line else ""}: [schedule] "{key}"'

    def field(key: str, override: str | None) -> _Given:
        """Where the value of `key` came from: the override's place, else the definition's field."""
        if override is not None:
            given = (given_as or {}).get(key)
            # The file submitted too: the option's date is wrong for this definition (its RUN date).
            label = f"{definition.source}: {given or f'{key} given at submission'}"
            return _Given(key, label, overridden=True)
        return _Given(key, in_file(key), overridden=False)

    def option(key: str, override: str | None) -> str | None:
        """The option the submission gave `key`'s value with ("submit --at"), when it gave one."""
        return (given_as or {}).get(key) if override is not None else None

    def parsed(key: str, override: str | None, parse: Callable[[], pendulum.DateTime]) -> pendulum.DateTime:
        try:
            return parse()
        except TimeParseError as exc:
            named = option(key, override)
            if named is None:
                raise
            raise TimeParseError(f"{named} {exc}") from None

    def named(key: str, override: str | None) -> str:
        """The date's name in a conflict: the option that gave it, else the definition's field."""
        given = option(key, override)
        return f"{definition.source}: {given}" if given else in_file(key, at_line=override is None)

    def written_start(key: str, override: str | None, text: str, instant: pendulum.DateTime) -> str:
        """The date a conflict is with, named and as written: `"start" "2027-01-01"`."""
        named_as = option(key, override) or (f'"{key}"' if override is None else f"{key} given at submission")
        return f"{named_as} {_as_written(text, instant)}"

    for key, given in (("at", at), ("max_start", max_start)):
        if given == "":  # a script's empty variable: no date at all, never the definition's own instead
            parsed(key, given, lambda: parse_when("", now, zone))
    if spec.mode == "window":
        start_text = at or spec.start or "now"
        start = parsed("at", at, lambda: parse_when(start_text, now, zone))
        if max_start is not None:
            # A window's Max Start Date is its expiry: given at submission, it replaces the schedule's.
            until = parsed("max_start", max_start, lambda: parse_max_start(max_start, start, now, zone))
            if until <= start:
                # Both dates as written (converted, "+02:00" read as another date than the user's).
                raise BadValue(
                    f"{named('max_start', max_start)} {_as_written(max_start, until)} is not after the "
                    f"window's start, {written_start('at' if at else 'start', at, start_text, start)}"
                )
            if until <= now:
                _refuse_past("the Max Start Date", until, now, field("max_start", max_start), max_start)
        else:
            until = _expiry(spec.expires, DEFAULT_EXPIRES["window"], start, now, zone)
        if until <= start:
            # As written: converted, a date alone ("2026-12-31": the end of that day) read as another date.
            raise BadValue(
                f"{in_file('expires')} {_as_written(spec.expires or '', until)} is not after "
                f"{written_start('at' if at else 'start', at, start_text, start)}"
            )
        # A window's expiry is its Max Start Date: one already past would never open.
        if until <= now:
            if spec.expires is not None:
                _refuse_past("the schedule's expiry", until, now, field("expires", None), spec.expires)
            default = DEFAULT_EXPIRES["window"]
            _refuse_past(
                "the schedule's expiry",
                until,
                now,
                field("at" if at else "start", at),
                start_text,
                f"{default} after this start, the default",
            )
        schedule = JobSchedule("window", zone, start, until, spec.window, spec.days, spec.retry_every_s)
        first = schedule.next_open(max(start, now))
        if first is None:
            raise BadValue(
                f"{in_file('window')}: never open between {start.isoformat()} and {until.isoformat()}"
            )
        return ResolvedSchedule(first, until, first, schedule)

    at_text = at or spec.at
    scheduled = parsed("at", at, lambda: parse_when(at_text, now, zone))
    max_start_text = max_start or spec.max_start
    max_start_at = parsed(
        "max_start", max_start, lambda: parse_max_start(max_start_text, scheduled, now, zone)
    )
    # The engine expires a job not started by its Max Start Date: one already past would never run. A RUN
    # date in the past with a Max Start Date still ahead is fine: the job runs now. (A past `expires` is
    # not checked here: a fire-and-forget job still runs once then, it only gets no retries.)
    if max_start_at < now:
        if _is_relative(max_start_text):  # counted from the RUN date: that date is what is too old
            _refuse_past(
                "the Max Start Date",
                max_start_at,
                now,
                field("at", at),
                at_text,
                f"{max_start_text.strip()} after this RUN date",
            )
        _refuse_past("the Max Start Date", max_start_at, now, field("max_start", max_start), max_start_text)
    # After the past check: a Max Start Date already past is that (a RUN date of "now" is always after
    # it), said as the README says, not as a conflict with this instant.
    if max_start_at < scheduled:
        # Each date named where it was given (the file's field, or the option that replaced it) and as
        # written: converted to UTC, "2099-01-01T00:00:00+05:00" would read as a date the user never gave.
        raise BadValue(
            f"{named('max_start', max_start)} {_as_written(max_start_text, max_start_at)} is before the "
            f"scheduled date, {written_start('at', at, at_text, scheduled)}"
        )
    expires: pendulum.DateTime | None = None
    retry_every_s = 0.0
    if spec.retrying:
        expires = _expiry(spec.expires, DEFAULT_EXPIRES["now"], scheduled, now, zone)
        if expires < scheduled:
            raise BadValue(
                f"{in_file('expires')} {_as_written(spec.expires or '', expires)} is before the scheduled "
                f"date, {written_start('at', at, at_text, scheduled)}"
            )
        retry_every_s = spec.retry_every_s
    schedule = JobSchedule("now", zone, scheduled, expires, None, (), retry_every_s)
    return ResolvedSchedule(scheduled, max_start_at, now, schedule)


class PastMaxStart(BadInput, ValueError):
    """A submission whose Max Start Date (a window's expiry) is already past: the job could only expire.

    `key` is the schedule field that put it there ("at", "max_start", "start", "expires"), `overridden`
    whether the submission gave that value (--at, an envelope's at) rather than the definition, and
    `detail` the message after the field's name (an envelope file puts it at the override's line)."""

    def __init__(self, given: _Given, detail: str) -> None:
        super().__init__(f"{given.label}: {detail}")
        self.key = given.key
        self.overridden = given.overridden
        self.detail = detail


@dataclass(frozen=True)
class _Given:
    """A schedule field's value as given: its key, where it was given (for messages), and whether the
    submission overrode the definition's."""

    key: str
    label: str
    overridden: bool


def _refuse_past(
    deadline_name: str,
    deadline: pendulum.DateTime,
    now: pendulum.DateTime,
    given: _Given,
    text: str,
    counted_as: str | None = None,
) -> NoReturn:
    """Refuse a submission whose deadline to start RUN is already past, naming the field to change (the
    deadline's own, or the date it counts from) with its text, the deadline and now."""
    how = f" ({counted_as})" if counted_as else ""
    raise PastMaxStart(
        given,
        f'"{text.strip()}": {deadline_name} {deadline.isoformat()}{how} is already past '
        f"(now {now.replace(microsecond=0).isoformat()}): the job would expire before it could start",
    )


def _is_relative(text: str) -> bool:
    """Whether a max_start counts from the RUN date ("+6h"), as parse_max_start reads it."""
    return text.strip().startswith("+")


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


def _as_written(text: str, instant: pendulum.DateTime) -> str:
    """A date as the user wrote it; a relative one ("+2h", "now", "tomorrow 02:00") with the instant it
    stands for, which its text does not say."""
    written = f'"{text.strip()}"'
    try:
        dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return f"{written} ({instant.isoformat()})"
    return written


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
