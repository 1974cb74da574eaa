import pendulum
import pytest

from jobtui.engine.domain.timeparse import (
    TimeParseError,
    format_duration,
    parse_duration,
    parse_max_start,
    parse_when,
)

NOW = pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")
ZURICH = "Europe/Zurich"
DATE_HINT = '(try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")'


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, second, tz="UTC")


# --- parse_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("90", 90.0),
        ("1.5", 1.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1d2h", 93600.0),
        ("1d2h3m4s", 93784.0),
        ("1h 30m", 5400.0),
        ("  10m  ", 600.0),
        ("1.5h", 5400.0),
        ("90m", 5400.0),
        ("10M", 600.0),
        (0, 0.0),
        (90, 90.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_accepts(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10 minutes", '"10 minutes" is not a duration (try "10m")'),
        ("2 hours", '"2 hours" is not a duration (try "2h")'),
        ("1 hour 30 minutes", '"1 hour 30 minutes" is not a duration (try "1h30m")'),
        ("90 secs", '"90 secs" is not a duration (try "90s")'),
        ("3 days", '"3 days" is not a duration (try "3d")'),
        ("2 weeks", '"2 weeks" is not a duration (try "14d")'),
        ("30m1h", '"30m1h" is not a duration (try "1h30m")'),
        ("1m1m", '"1m1m" is not a duration (try "2m")'),
        ("-5", '"-5" is not a duration (try "10m")'),
        ("-10m", '"-10m" is not a duration (try "10m")'),
        ("soon", '"soon" is not a duration (try "10m")'),
        ("", '"" is not a duration (try "10m")'),
        ("10x", '"10x" is not a duration (try "10m")'),
        (-1, '"-1" is not a duration (try "10m")'),
        (float("inf"), '"inf" is not a duration (try "10m")'),
        (True, '"true" is not a duration (try "10m")'),
        # Digits of other scripts, which ISO dates do not take either: the hint spells them 0-9.
        ("١٠s", '"١٠s" is not a duration (try "10s")'),
        ("１０m", '"１０m" is not a duration (try "10m")'),
        ("1.５h", '"1.５h" is not a duration (try "1.5h")'),
        ("٩٠", '"٩٠" is not a duration (try "10m")'),
    ],
)
def test_parse_duration_refuses_with_hint(text: str | int | float, message: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_duration(text)
    assert str(info.value) == message


def test_time_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration("nope")


# --- format_duration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (90, "1m30s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (0.5, "0.5s"),
        (89.6, "1m30s"),
        (-90, "-1m30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (65, "1m5s"),
        (3605, "1h"),
        (3665, "1h1m"),
        (86400 * 89 + 23 * 3600 + 64, "89d23h"),
        (90 * 86400 + 5, "90d"),
    ],
)
def test_a_duration_in_its_two_largest_units_fits_a_column(seconds: float, text: str) -> None:
    """Found by an operator: at 50,000 jobs the table's Elapsed read `89d23h1m4…`, a number cut in two."""
    assert format_duration(seconds, 2) == text


@pytest.mark.parametrize("seconds", [0, 1, 90, 3600, 5400, 90061, 7 * 86400 + 5])
def test_format_duration_output_parses_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


# --- parse_when -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", utc(2026, 11, 23, 10, 0)),
        ("NOW", utc(2026, 11, 23, 10, 0)),
        ("+90s", utc(2026, 11, 23, 10, 1, 30)),
        ("+90", utc(2026, 11, 23, 10, 1, 30)),
        ("+2h", utc(2026, 11, 23, 12, 0)),
        ("+1d", utc(2026, 11, 24, 10, 0)),
        ("+1h30m", utc(2026, 11, 23, 11, 30)),
        # Zurich is UTC+1 in November.
        ("tomorrow 02:00", utc(2026, 11, 24, 1, 0)),
        ("today 14:30", utc(2026, 11, 23, 13, 30)),
        ("today 14:30:15", utc(2026, 11, 23, 13, 30, 15)),
        ("tomorrow", utc(2026, 11, 23, 23, 0)),
        ("Tomorrow  2:00", utc(2026, 11, 24, 1, 0)),
        ("2026-11-23T02:00:00+01:00", utc(2026, 11, 23, 1, 0)),
        ("2026-11-23T02:00:00Z", utc(2026, 11, 23, 2, 0)),
        ("2026-11-23T02:00:00-05:00", utc(2026, 11, 23, 7, 0)),
        ("2026-11-23T02:00", utc(2026, 11, 23, 1, 0)),
        ("2026-11-23T02:00:00", utc(2026, 11, 23, 1, 0)),
        ("2026-11-23 02:00", utc(2026, 11, 23, 1, 0)),
        ("2026-11-23", utc(2026, 11, 22, 23, 0)),
        # Summer time: Zurich is UTC+2.
        ("2026-07-01T12:00", utc(2026, 7, 1, 10, 0)),
    ],
)
def test_parse_when_accepts(text: str, expected: pendulum.DateTime) -> None:
    result = parse_when(text, NOW, ZURICH)
    assert result == expected
    assert result.timezone_name == "UTC"


def test_parse_when_day_words_use_the_given_zone_not_utc() -> None:
    # 23:30 UTC is already the 24th in Zurich, so "today" is the 24th there.
    late = pendulum.datetime(2026, 11, 23, 23, 30, tz="UTC")
    assert parse_when("today 08:00", late, ZURICH) == utc(2026, 11, 24, 7, 0)
    assert parse_when("today 08:00", late, "UTC") == utc(2026, 11, 23, 8, 0)


def test_parse_when_offset_text_ignores_zone() -> None:
    assert parse_when("2026-11-23T02:00:00+01:00", NOW, "America/New_York") == utc(2026, 11, 23, 1, 0)


def test_parse_when_defaults_to_host_zone() -> None:
    with pendulum.test_local_timezone(pendulum.Timezone("Asia/Tokyo")):
        assert parse_when("2026-11-23T09:00", NOW) == utc(2026, 11, 23, 0, 0)
        assert parse_when("tomorrow", NOW) == utc(2026, 11, 23, 15, 0)


def test_parse_when_relative_uses_given_now_in_any_zone() -> None:
    now_zurich = NOW.in_tz(ZURICH)
    result = parse_when("+1h", now_zurich, ZURICH)
    assert result == utc(2026, 11, 23, 11, 0)
    assert result.timezone_name == "UTC"


def test_parse_when_nonexistent_wall_clock_time_moves_forward() -> None:
    """As a schedule window's `from` does (README, "Daylight saving"): the first valid minute after the gap,
    03:00 CEST (found by review: it read 03:30, the gap's length later, unlike the windows)."""
    # 02:30 does not exist in Zurich on 2026-03-29 (clocks jump from 02:00 to 03:00).
    before_dst = pendulum.datetime(2026, 3, 28, 12, 0, tz="UTC")
    assert parse_when("tomorrow 02:30", before_dst, ZURICH) == utc(2026, 3, 29, 1, 0)


def test_parse_when_a_repeated_wall_clock_time_is_its_first_pass() -> None:
    """02:30 comes twice in Zurich on 2026-10-25 (02:30 CEST, then 02:30 CET): the first, as for windows
    (it read the second, an hour late)."""
    before = pendulum.datetime(2026, 10, 24, 12, 0, tz="UTC")
    assert parse_when("tomorrow 02:30", before, ZURICH) == utc(2026, 10, 25, 0, 30)
    assert parse_when("2026-10-25T02:30", before, ZURICH) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    "text",
    [
        "next tuesday",
        "",
        "yesterday",
        "tomorrow 25:00",
        "today 10:61",
        "2026-13-01",
        "+",
        "+-2h",
        "2026/11/23",
        # Digits 0-9 only, in every form (an ISO date never took others).
        "tomorrow ０２:００",
        "today 1:٣٠",
        "٢٠٢٧-01-01",
        "2027-01-01T０２:00",
    ],
)
def test_parse_when_refuses(text: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_when(text, NOW, ZURICH)
    assert str(info.value) == f'"{text}" is not a date {DATE_HINT}'


@pytest.mark.parametrize(
    ("text", "hint"), [("+١٠m", "+10m"), ("+１０m", "+10m"), ("+٣h", "+3h"), ("+1h３０m", "+1h30m")]
)
def test_parse_when_refuses_a_relative_date_in_other_digits_with_its_spelling_in_0_9(
    text: str, hint: str
) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_when(text, NOW, ZURICH)
    assert str(info.value) == f'"{text}" is not a date (try "{hint}")'


def test_parse_when_relative_with_words_suggests_relative_spelling() -> None:
    with pytest.raises(TimeParseError) as info:
        parse_when("+2 hours", NOW, ZURICH)
    assert str(info.value) == '"+2 hours" is not a date (try "+2h")'


@pytest.mark.parametrize("text", ["+3651d", "+99999d", "+99999999999999999999999h"])
def test_parse_when_too_far_ahead_names_the_limit_not_a_hint_that_repeats_it(text: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_when(text, NOW, ZURICH)
    assert str(info.value) == f'"{text}" is further ahead than jobtui schedules, +3650d'


def test_parse_when_unknown_zone() -> None:
    with pytest.raises(TimeParseError) as info:
        parse_when("tomorrow", NOW, "Mars/Olympus")
    assert str(info.value) == '"Mars/Olympus" is not a known time zone (try "Europe/Zurich" or "UTC")'


# --- parse_max_start --------------------------------------------------------------------------


def test_max_start_relative_counts_from_at_not_now() -> None:
    at = utc(2026, 11, 30, 2, 0)
    assert parse_max_start("+1d", at, NOW, ZURICH) == utc(2026, 12, 1, 2, 0)
    assert parse_max_start("+2h30m", at, NOW, ZURICH) == utc(2026, 11, 30, 4, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T06:00:00+01:00", utc(2026, 12, 1, 5, 0)),
        ("tomorrow 06:00", utc(2026, 11, 24, 5, 0)),
        ("now", utc(2026, 11, 23, 10, 0)),
    ],
)
def test_max_start_other_forms_are_like_parse_when(text: str, expected: pendulum.DateTime) -> None:
    at = utc(2026, 11, 30, 2, 0)
    assert parse_max_start(text, at, NOW, ZURICH) == expected


def test_max_start_refuses_garbage() -> None:
    with pytest.raises(TimeParseError) as info:
        parse_max_start("whenever", utc(2026, 11, 30, 2, 0), NOW, ZURICH)
    assert str(info.value) == f'"whenever" is not a date {DATE_HINT}'
