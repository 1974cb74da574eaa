import datetime as dt

import pendulum
import pytest

from jobtui.engine.domain.windows import (
    WEEKDAYS,
    DailyWindow,
    ScheduleWindow,
    parse_clock,
    parse_days,
)

ZURICH = "Europe/Zurich"
NEW_YORK = "America/New_York"
ALL_DAYS = frozenset(range(7))
WORKDAYS = frozenset(range(5))
# 2026-03-02 is a Monday; that week is before any DST change in either zone.
MON, TUE, WED, FRI, SAT, SUN = 2, 3, 4, 6, 7, 8


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> pendulum.DateTime:
    return pendulum.datetime(year, month, day, hour, minute, second, tz="UTC")


def zurich(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> pendulum.DateTime:
    """Wall time in Zurich in March 2026 (before the DST change, so unambiguous)."""
    return pendulum.datetime(2026, month, day, hour, minute, tz=ZURICH)


def window(
    opens: str | None,
    closes: str | None = None,
    *,
    days: frozenset[int] = ALL_DAYS,
    tz: str = ZURICH,
    start: pendulum.DateTime | None = None,
    expires: pendulum.DateTime | None = None,
) -> ScheduleWindow:
    daily = DailyWindow(parse_clock(opens), parse_clock(closes)) if opens and closes else None
    return ScheduleWindow(
        timezone=tz,
        window=daily,
        days=days,
        start=start or utc(2025, 1, 1),
        expires=expires or utc(2028, 1, 1),
    )


# --- plain windows ----------------------------------------------------------------------------


def test_window_inside_one_day_is_half_open() -> None:
    sched = window("09:00", "17:00")
    assert not sched.is_open(zurich(MON, 8, 59))
    assert sched.is_open(zurich(MON, 9))
    assert sched.is_open(zurich(MON, 16, 59))
    assert not sched.is_open(zurich(MON, 17))
    assert sched.interval_at(zurich(MON, 12)) == (utc(2026, 3, 2, 8), utc(2026, 3, 2, 16))
    assert sched.interval_at(zurich(MON, 18)) is None


def test_returned_instants_are_utc_whatever_the_input_zone() -> None:
    sched = window("09:00", "17:00")
    at = pendulum.datetime(2026, 3, 2, 7, 0, tz="Asia/Tokyo")  # Monday 23:00 Zurich, the day before
    opened = sched.next_open(at)
    assert opened == utc(2026, 3, 2, 8)
    assert opened is not None and opened.timezone_name == "UTC"
    inside = zurich(MON, 12)
    now = sched.next_open(inside)
    assert now == inside and now is not None and now.timezone_name == "UTC"


def test_window_crossing_midnight_belongs_to_the_opening_day() -> None:
    sched = window("22:00", "04:00", days=frozenset({0}))  # Mondays only
    assert sched.is_open(zurich(MON, 22))
    assert sched.is_open(zurich(TUE, 2))  # Tuesday is not allowed, but this is Monday's night
    assert sched.interval_at(zurich(TUE, 2)) == (utc(2026, 3, 2, 21), utc(2026, 3, 3, 3))
    assert not sched.is_open(zurich(TUE, 4))
    assert not sched.is_open(zurich(TUE, 23))
    assert not sched.is_open(zurich(MON, 1))  # that would be Sunday's night
    assert not sched.is_open(zurich(MON, 21, 59))


def test_weekday_restriction_with_night_window() -> None:
    sched = window("22:00", "04:00", days=WORKDAYS)
    assert sched.is_open(zurich(FRI, 23))
    assert sched.is_open(zurich(SAT, 3))  # Friday's window
    assert not sched.is_open(zurich(SAT, 12))
    assert not sched.is_open(zurich(SAT, 23))
    assert not sched.is_open(zurich(SUN, 23))
    assert not sched.is_open(zurich(MON + 7, 3))  # Sunday's window would be, but Sunday is off
    assert sched.is_open(zurich(MON + 7, 22))


# --- next_open / closes_at --------------------------------------------------------------------


def test_next_open_later_the_same_day() -> None:
    sched = window("22:00", "04:00", days=WORKDAYS)
    assert sched.next_open(zurich(TUE, 10)) == utc(2026, 3, 3, 21)
    assert sched.next_open(zurich(TUE, 4)) == utc(2026, 3, 3, 21)


def test_next_open_next_allowed_day_skipping_the_weekend() -> None:
    sched = window("09:00", "17:00", days=WORKDAYS)
    assert sched.next_open(zurich(TUE, 18)) == utc(2026, 3, 4, 8)
    next_monday = utc(2026, 3, 9, 8)
    assert sched.next_open(zurich(FRI, 17)) == next_monday
    assert sched.next_open(zurich(SAT, 9)) == next_monday
    assert sched.next_open(zurich(SUN, 23)) == next_monday


def test_closes_at() -> None:
    sched = window("22:00", "04:00", days=WORKDAYS)
    assert sched.closes_at(zurich(FRI, 22)) == utc(2026, 3, 7, 3)
    assert sched.closes_at(zurich(SAT, 3, 59)) == utc(2026, 3, 7, 3)
    assert sched.closes_at(zurich(SAT, 4)) is None


def test_start_and_expires_clip_intervals() -> None:
    sched = window("09:00", "17:00", start=zurich(MON, 12), expires=zurich(WED, 15))
    assert not sched.is_open(zurich(MON, 10))
    assert sched.next_open(zurich(MON, 8)) == utc(2026, 3, 2, 11)
    assert sched.interval_at(zurich(MON, 13)) == (utc(2026, 3, 2, 11), utc(2026, 3, 2, 16))
    assert sched.interval_at(zurich(WED, 14)) == (utc(2026, 3, 4, 8), utc(2026, 3, 4, 14))
    assert sched.closes_at(zurich(WED, 10)) == utc(2026, 3, 4, 14)
    assert not sched.is_open(zurich(WED, 15))
    assert sched.next_open(zurich(WED, 15)) is None
    assert sched.next_open(zurich(FRI, 12)) is None


def test_next_open_far_before_a_distant_start() -> None:
    sched = window("09:00", "17:00", start=utc(2029, 6, 1), expires=utc(2029, 7, 1))
    assert sched.next_open(utc(2026, 1, 1)) == utc(2029, 6, 1, 7)


def test_never_open_returns_none_without_scanning_forever() -> None:
    sched = window("09:00", "17:00", days=frozenset(), expires=utc(2099, 1, 1))
    assert sched.next_open(utc(2026, 1, 1)) is None
    assert not sched.is_open(zurich(MON, 12))


# --- whole days and merged runs ---------------------------------------------------------------


def test_no_window_means_whole_allowed_days_merged() -> None:
    sched = window(None, days=frozenset({5, 6}))
    assert sched.is_open(zurich(SAT, 0))
    assert sched.is_open(zurich(SUN, 23, 59))
    assert not sched.is_open(zurich(MON + 7, 0))
    assert not sched.is_open(zurich(FRI, 23, 59))
    saturday, monday = utc(2026, 3, 6, 23), utc(2026, 3, 8, 23)
    assert sched.interval_at(zurich(SUN, 12)) == (saturday, monday)
    assert sched.closes_at(zurich(SAT, 1)) == monday
    assert sched.next_open(zurich(MON + 7, 0)) == utc(2026, 3, 13, 23)


def test_24_hour_window_runs_continuously_until_expiry() -> None:
    start, expires = zurich(MON, 5), zurich(MON + 14, 20)
    sched = window("08:00", "08:00", start=start, expires=expires)
    assert not sched.is_open(zurich(MON, 4, 59))
    assert sched.is_open(zurich(MON, 7))  # the tail of Sunday's window, after start
    assert sched.interval_at(zurich(FRI, 3)) == (start, expires)
    assert sched.closes_at(zurich(TUE, 8)) == expires


# --- DST: Europe/Zurich (2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00) ----------------


def test_zurich_window_opening_in_the_gap_opens_at_the_transition() -> None:
    sched = window("02:30", "05:00")
    assert sched.interval_at(utc(2026, 3, 29, 2)) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))
    assert sched.next_open(utc(2026, 3, 28, 23)) == utc(2026, 3, 29, 1)  # 03:00 CEST, not 03:30
    assert not sched.is_open(utc(2026, 3, 29, 0, 59))


def test_zurich_window_spanning_the_gap_is_an_hour_shorter() -> None:
    sched = window("01:00", "04:00")
    assert sched.interval_at(utc(2026, 3, 29, 1)) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))


def test_zurich_window_entirely_inside_the_gap_does_not_open_that_day() -> None:
    sched = window("02:00", "02:30")
    assert not sched.is_open(utc(2026, 3, 29, 1))
    assert sched.next_open(utc(2026, 3, 28, 23)) == utc(2026, 3, 30, 0)  # Monday 02:00 CEST


def test_zurich_repeated_hour_runs_only_the_first_pass() -> None:
    sched = window("02:00", "02:30")
    assert sched.interval_at(utc(2026, 10, 25, 0, 15)) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30))
    for second_pass in (utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 15)):
        assert not sched.is_open(second_pass)
        assert sched.next_open(second_pass) == utc(2026, 10, 26, 1)  # Monday 02:00 CET
    # pendulum.datetime() reads a repeated wall time as its second pass (fold=1); the window must
    # still treat it as the instant it is. (Compared in UTC: PEP 495 makes == between zones False
    # for any time inside a repeated hour.)
    local_second_pass = pendulum.datetime(2026, 10, 25, 2, 15, tz=ZURICH)
    assert local_second_pass.in_timezone("UTC") == utc(2026, 10, 25, 1, 15)
    assert not sched.is_open(local_second_pass)


def test_zurich_window_closing_in_the_repeated_hour_closes_on_the_first_pass() -> None:
    sched = window("22:00", "02:30", days=frozenset({5}))  # Saturday night into the change
    assert sched.interval_at(utc(2026, 10, 24, 23)) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 0, 30))
    assert not sched.is_open(utc(2026, 10, 25, 1, 15))


def test_zurich_window_spanning_the_fall_back_is_an_hour_longer() -> None:
    sched = window("01:00", "03:00")
    assert sched.interval_at(utc(2026, 10, 25, 1)) == (utc(2026, 10, 24, 23), utc(2026, 10, 25, 2))


# --- DST: America/New_York (2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00) -------------


def test_new_york_window_opening_in_the_gap() -> None:
    sched = window("02:30", "04:00", tz=NEW_YORK)
    assert sched.next_open(utc(2026, 3, 8, 5)) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert sched.interval_at(utc(2026, 3, 8, 7, 30)) == (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))


def test_new_york_window_spanning_the_gap_is_an_hour_shorter() -> None:
    sched = window("01:00", "04:00", tz=NEW_YORK)
    assert sched.interval_at(utc(2026, 3, 8, 6)) == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 8))


def test_new_york_repeated_hour_runs_only_the_first_pass() -> None:
    sched = window("01:00", "01:30", tz=NEW_YORK)
    assert sched.interval_at(utc(2026, 11, 1, 5, 10)) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 5, 30))
    for second_pass in (utc(2026, 11, 1, 6), utc(2026, 11, 1, 6, 15)):
        assert not sched.is_open(second_pass)
        assert sched.next_open(second_pass) == utc(2026, 11, 2, 6)  # Monday 01:00 EST
    # An `at` given in another zone is compared as an instant, not as a wall time.
    assert not sched.is_open(utc(2026, 11, 1, 6, 15).in_timezone(ZURICH))


def test_new_york_window_spanning_the_fall_back_is_an_hour_longer() -> None:
    sched = window("00:00", "03:00", tz=NEW_YORK)
    assert sched.interval_at(utc(2026, 11, 1, 6, 30)) == (utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))


def test_whole_day_over_spring_forward_is_23_hours() -> None:
    sched = window(None, days=frozenset({6}), tz=NEW_YORK)
    interval = sched.interval_at(utc(2026, 3, 8, 12))
    assert interval == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))  # 23 real hours


def test_next_open_agrees_with_is_open_across_dst_changes() -> None:
    """Walk both fall-back weekends quarter-hour by quarter-hour: every closed instant's next_open must be
    the first later grid instant that is open (all boundaries here fall on the grid)."""
    for tz, first in ((ZURICH, utc(2026, 10, 23)), (NEW_YORK, utc(2026, 10, 30))):
        sched = window("22:00", "02:30", days=frozenset({4, 5, 6}), tz=tz)
        grid = [first.add(minutes=15 * i) for i in range(4 * 24 * 5)]
        open_flags = [sched.is_open(t) for t in grid]
        for i, t in enumerate(grid):
            later_open = next((grid[j] for j in range(i, len(grid)) if open_flags[j]), None)
            if later_open is not None:
                assert sched.next_open(t) == later_open, (tz, t)
            if open_flags[i]:
                closes = sched.closes_at(t)
                assert closes is not None and closes > t
                assert not sched.is_open(closes)


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22:00", dt.time(22, 0)),
        ("4:00", dt.time(4, 0)),
        ("04:00:30", dt.time(4, 0, 30)),
        (" 07:05 ", dt.time(7, 5)),
        ("0:00", dt.time(0, 0)),
        ("23:59:59", dt.time(23, 59, 59)),
    ],
)
def test_parse_clock_accepts(text: str, expected: dt.time) -> None:
    assert parse_clock(text) == expected


@pytest.mark.parametrize(
    "text", ["25:00", "12:60", "12:00:60", "noon", "", "12", "1:2", "123:00", "-1:00", "２２:００", "22:٠٠"]
)
def test_parse_clock_rejects_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_clock(text)
    assert str(info.value) == f'"{text}" is not a time of day (try "22:00")'


def test_parse_clock_rejects_24_00_with_a_midnight_hint() -> None:
    with pytest.raises(ValueError, match=r'^"24:00" is not a time of day \(try "00:00"\)$'):
        parse_clock("24:00")


def test_parse_days_short_and_full_names_any_case() -> None:
    assert parse_days(["mon", "TUE", "Friday", " sunday "]) == frozenset({0, 1, 4, 6})
    assert parse_days(list(WEEKDAYS)) == ALL_DAYS
    assert parse_days(["Monday", "mon"]) == frozenset({0})
    assert parse_days([]) == frozenset()


@pytest.mark.parametrize("bad", ["fry", "", "mo", "weekend"])
def test_parse_days_rejects_naming_the_bad_item(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_days(["mon", bad])
    assert str(info.value) == f'"{bad}" is not a weekday (use mon, tue, wed, thu, fri, sat, sun)'


# --- construction and input errors --------------------------------------------------------------


def test_unknown_timezone_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match='"Europe/Zurch" is not a known timezone'):
        window("09:00", "17:00", tz="Europe/Zurch")


def test_naive_instants_are_rejected() -> None:
    sched = window("09:00", "17:00")
    with pytest.raises(ValueError, match="no timezone"):
        sched.is_open(dt.datetime(2026, 3, 2, 12))  # type: ignore[arg-type]
