"""Parsing and formatting of the human time expressions used in job definitions and the UI.

Everything returned here is timezone-aware; wall-clock expressions ("tomorrow 02:00", ISO text
without an offset) are read in an explicit zone so that the same text means the same instant
no matter which machine resolves it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from datetime import datetime

import pendulum
from pendulum.tz.exceptions import InvalidTimezone
from pendulum.tz.local_timezone import get_local_timezone

from jobtui.engine.domain.windows import resolve_wall_time
from jobtui.engine.errors import BadInput

__all__ = [
    "TimeParseError",
    "check_zone",
    "format_duration",
    "parse_duration",
    "parse_max_start",
    "parse_when",
]

_UNIT_SECONDS: dict[str, int] = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Digits 0-9 only: \d and float() take the digits of every script (Arabic-Indic ١٠, full-width １０),
# which ISO dates do not, so "+١٠m" would be a date and "２０２７-01-01" not. The hints read any digits, to
# offer the spelling in 0-9.
_NUMBER = r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
_ANY_DIGITS_NUMBER = r"\d+(?:\.\d+)?|\.\d+"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*([dhms])\s*")
_BARE_NUMBER = re.compile(rf"\s*({_NUMBER})\s*")

# Spelled-out units people type out of habit; used only to build a "try ..." hint.
_UNIT_WORDS: dict[str, tuple[str, int]] = {}
for _unit, _words in {
    "s": ("s", "sec", "secs", "second", "seconds"),
    "m": ("m", "min", "mins", "minute", "minutes"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "d": ("d", "day", "days"),
}.items():
    for _word in _words:
        _UNIT_WORDS[_word] = (_unit, 1)
for _word in ("w", "wk", "wks", "week", "weeks"):
    # There is no week unit, so a week hint is expressed in days.
    _UNIT_WORDS[_word] = ("d", 7)
_HINT_PART = re.compile(rf"\s*({_ANY_DIGITS_NUMBER})\s*([a-z]+)\s*,?\s*(?:and\s+)?")

_DEFAULT_DURATION_HINT = "10m"
_DATE_HINT = 'try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00"'
_DAY_WORD = re.compile(r"^(today|tomorrow)(?:\s+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?$")


class TimeParseError(BadInput, ValueError):
    """A time expression the user wrote could not be understood; str() is shown as-is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _duration_error(text: str | int | float) -> TimeParseError:
    hint = _suggest_duration(text) if isinstance(text, str) else None
    return TimeParseError(f'"{text}" is not a duration (try "{hint or _DEFAULT_DURATION_HINT}")')


def _format_number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _suggest_duration(text: str) -> str | None:
    """Turn "1 hour 30 minutes" into "1h30m" so the error can show the spelling we accept."""
    cleaned = text.strip().lower()
    pos = 0
    parts: list[str] = []
    total = 0.0
    while pos < len(cleaned):
        match = _HINT_PART.match(cleaned, pos)
        if match is None or match.end() == pos:
            return None
        word = match.group(2)
        if word not in _UNIT_WORDS:
            return None
        unit, factor = _UNIT_WORDS[word]
        amount = float(match.group(1)) * factor
        parts.append(_format_number(amount) + unit)
        total += amount * _UNIT_SECONDS[unit]
        pos = match.end()
    if not parts:
        return None
    suggestion = "".join(parts)
    if _seconds_from_text(suggestion) is not None:
        return suggestion
    # Parts out of order or repeated ("30m1h", "1m 1m"): offer the canonical spelling of the sum.
    return format_duration(total) if total == int(total) else None


def _seconds_from_text(text: str) -> float | None:
    cleaned = text.strip().lower()
    bare = _BARE_NUMBER.fullmatch(cleaned)
    if bare is not None:
        return float(bare.group(1))

    total = 0.0
    pos = 0
    seen: list[str] = []
    while pos < len(cleaned):
        match = _DURATION_PART.match(cleaned, pos)
        if match is None:
            return None
        unit = match.group(2)
        # Units must go from largest to smallest, once each, so "1m1m" or "30m1h" (likely typos)
        # are refused instead of silently summed.
        if seen and "dhms".index(unit) <= "dhms".index(seen[-1]):
            return None
        seen.append(unit)
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        pos = match.end()
    return total if seen else None


def parse_duration(text: str | int | float) -> float:
    """Seconds for "90", "30s", "10m", "2h", "1d", "1h30m", "1d 2h", or a plain number."""
    # bool is an int subclass; `timeout = true` in a file is a mistake, not one second.
    if isinstance(text, bool):
        raise _duration_error(str(text).lower())
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise _duration_error(text)
        return _bounded(text, float(text))
    if not isinstance(text, str):
        raise _duration_error(str(text))

    seconds = _seconds_from_text(text)
    if seconds is None:
        raise _duration_error(text)
    return _bounded(text, seconds)


# Longer spans are typos, and added to a date they run off the calendar.
MAX_DURATION_S = 3650 * 86400.0


class DurationTooLong(TimeParseError):
    """A duration past MAX_DURATION_S."""


def _bounded(text: str | int | float, seconds: float) -> float:
    if seconds > MAX_DURATION_S:
        raise DurationTooLong(f'"{text}" is longer than the longest duration allowed, {_LONGEST}')
    return seconds


_LONGEST = f"{int(MAX_DURATION_S // 86400)}d"


def format_duration(seconds: float, units: int | None = None) -> str:
    """Compact form such as "1d1h1m1s", the same spelling parse_duration accepts; with `units`, only that
    many of the largest (`2`: "89d23h", "4m12s"), for a column that must not cut a number in two."""
    if math.isnan(seconds):
        return "?"
    if math.isinf(seconds):
        return "∞" if seconds > 0 else "-∞"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    whole = round(seconds)
    if whole == 0:
        # Sub-second values still matter in messages ("retry in 0.5s"); never print them as 0s.
        return "0s" if seconds == 0 else f"{seconds:.2g}s"
    parts: list[tuple[int, str]] = []
    for unit, size in _UNIT_SECONDS.items():
        count, whole = divmod(whole, size)
        if count or parts:
            parts.append((count, unit))
    return "".join(f"{count}{unit}" for count, unit in parts[:units] if count)


def _zone(tz: str | None) -> pendulum.Timezone | pendulum.FixedTimezone:
    if tz is None:
        return get_local_timezone()
    try:
        return pendulum.Timezone(tz)
    except (InvalidTimezone, ValueError, OSError) as exc:  # "Europe" is a tzdata directory: OSError
        raise TimeParseError(f'"{tz}" is not a known time zone (try "Europe/Zurich" or "UTC")') from exc


def check_zone(tz: str) -> str:
    """The zone name if it is a known IANA zone; TimeParseError naming it otherwise."""
    _zone(tz)
    return tz


# The dates jobtui schedules on: nothing runs before the epoch, and the far end leaves room for any delay,
# window or expiry that is added to a date.
EARLIEST = pendulum.datetime(1970, 1, 1, tz="UTC")
LATEST = pendulum.datetime(9000, 1, 1, tz="UTC")


def _date_error(text: str) -> TimeParseError:
    return TimeParseError(f'"{text}" is not a date ({_DATE_HINT})')


def _wall_clock(
    zone: pendulum.Timezone | pendulum.FixedTimezone,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> pendulum.DateTime:
    """A wall time in `zone` as the instant it names, by schedule windows' rule (README, "Daylight saving"):
    the first pass of a repeated hour, the first valid instant after a spring-forward gap (pendulum read
    them as the second pass, and as the gap's length later: 02:30 → 03:30)."""
    wall = dt.time(hour, minute, second, microsecond)
    return pendulum.instance(resolve_wall_time(dt.date(year, month, day), wall, zone)).in_tz("UTC")


def parse_when(text: str, now: pendulum.DateTime, tz: str | None = None) -> pendulum.DateTime:
    """Resolve "now", "+2h", "tomorrow 02:00" or ISO 8601 text to a UTC instant.

    Text without an explicit offset is wall-clock time in `tz` (default: this host's zone).
    """
    try:
        when = _parse_when(text, now, tz)
    except OverflowError:
        when = None
    if when is None or not EARLIEST <= when < LATEST:
        # Dates near the ends of the calendar overflow later, when a window or a delay is added to them.
        raise TimeParseError(
            f'"{text}" is outside the calendar jobtui can schedule on ({EARLIEST.year} to {LATEST.year - 1})'
        ) from None
    return when


def _parse_when(text: str, now: pendulum.DateTime, tz: str | None) -> pendulum.DateTime:
    if not isinstance(text, str):
        raise _date_error(str(text))
    cleaned = " ".join(text.split()).lower()
    if cleaned == "now":
        return now.in_tz("UTC")

    if cleaned.startswith("+"):
        try:
            seconds = parse_duration(cleaned[1:])
        except DurationTooLong:  # a duration, only too long: the limit, as for a duration
            raise TimeParseError(f'"{text}" is further ahead than jobtui schedules, +{_LONGEST}') from None
        except TimeParseError:
            # "+1 day" is clearly meant as relative; point at the relative spelling we accept.
            hint = _suggest_duration(cleaned[1:])
            if hint is not None and hint != cleaned[1:]:
                raise TimeParseError(f'"{text}" is not a date (try "+{hint}")') from None
            raise _date_error(text) from None
        return now.in_tz("UTC").add(seconds=seconds)

    day_word = _DAY_WORD.match(cleaned)
    if day_word is not None:
        zone = _zone(tz)
        day = now.in_tz(zone).date()
        if day_word.group(1) == "tomorrow":
            day = day.add(days=1)
        hour = int(day_word.group(2) or 0)
        minute = int(day_word.group(3) or 0)
        second = int(day_word.group(4) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise _date_error(text)
        return _wall_clock(zone, day.year, day.month, day.day, hour, minute, second)

    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _date_error(text) from None
    if parsed.tzinfo is None:
        return _wall_clock(
            _zone(tz),
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.microsecond,
        )
    return pendulum.instance(parsed).in_tz("UTC")


def parse_max_start(
    text: str, at: pendulum.DateTime, now: pendulum.DateTime, tz: str | None = None
) -> pendulum.DateTime:
    """Latest start time: "+1d" means one day after `at` (the planned start), not after now."""
    if isinstance(text, str) and text.strip().startswith("+"):
        return parse_when(text, at, tz)
    return parse_when(text, now, tz)


def local_zone_name() -> str:
    """The host's IANA zone name (what the dashboard shows dates in by default)."""
    return str(get_local_timezone().name)
