"""Ids as people type them: job and envelope ids are 64-bit signed integers in both databases."""

from __future__ import annotations

# A larger number is a typo, not a job: handed to the database it is an error (SQLite: "Python int too
# large to convert to SQLite INTEGER"), never an answer.
MAX_ID = (1 << 63) - 1


def ascii_int(text: str) -> int | None:
    """`text` as a whole number written in ASCII digits (with a leading minus), else None. int() alone
    takes `1_0` (10), `  9  `, and digits of any script (Arabic-Indic ٩, full-width ９): an id typed or
    pasted like that is a mistake to name, never a job to act on."""
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        return None
    if len(digits) > 30:  # far past any id, and before int() refuses more than 4300 digits
        return -1 if text.startswith("-") else MAX_ID + 1
    return int(text)


def looks_like_id(text: str) -> bool:
    """Whether `text` is an id as the dashboard takes one (`42` or `#42`), whether or not it could be one."""
    digits = text.removeprefix("#")
    return digits.isascii() and digits.isdigit()


def typed_id(text: str) -> int | None:
    """The id `text` names (`42` or `#42`), or None when it names none that can exist."""
    if not looks_like_id(text):
        return None
    value = ascii_int(text.removeprefix("#"))
    return value if value is not None and value <= MAX_ID else None
