"""relative_time: how far a date is, the one wording of relative dates on screen ("in 2 h 59 min")."""

from __future__ import annotations

import pytest

from jobtui.i18n import relative_time

MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        # The case that misled: one unit cut "2 h 59 min" to "2 h".
        (2 * HOUR + 59 * MINUTE, "in 2 h 59 min"),
        (-(3 * DAY + 4 * HOUR), "3 d 4 h ago"),
        (DAY + HOUR + 1, "in 1 d 1 h"),
        (90, "in 1 min 30 s"),
        (45, "in 45 s"),
        (-180, "3 min ago"),
        # The second unit is left out when it is zero, and no third unit follows it.
        (2 * HOUR, "in 2 h"),
        (HOUR + 5, "in 1 h"),
        (DAY + 5 * MINUTE, "in 1 d"),
        (-(40 * DAY + 23 * HOUR + 59 * MINUTE), "40 d 23 h ago"),
        # The smaller unit is cut, not rounded: a countdown never shows more than is left.
        (2 * HOUR + 59 * MINUTE + 59, "in 2 h 59 min"),
        (-(MINUTE - 1), "59 s ago"),
        # Under half a second either way is now; whole seconds round.
        (0, "now"),
        (0.2, "now"),
        (-0.4, "now"),
        (59.6, "in 1 min"),
    ],
)
def test_two_units_in_english(seconds: float, text: str) -> None:
    assert relative_time(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2 * HOUR + 59 * MINUTE, "dentro de 2 h 59 min"),
        (-(3 * DAY + 4 * HOUR), "hace 3 d 4 h"),
        (-180, "hace 3 min"),
        (0, "ahora"),
    ],
)
def test_two_units_in_spanish(seconds: float, text: str) -> None:
    assert relative_time(seconds, "es") == text


def test_short_enough_for_a_table_column() -> None:
    """The widest span of each unit stays within a short column (the tasks' "Last triggered")."""
    widest = [59, HOUR - 1, DAY - 1, 400 * DAY - 1]
    assert max(len(relative_time(-span)) for span in widest) <= len("59 min 59 s ago")
