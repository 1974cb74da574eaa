"""The one exception base of jobtui, and its two kinds a user sees: a refusal and bad input.

Front ends map the kinds to exit codes (refusal 1, bad input 2) and to notifications; anything else
that derives from JobtuiError is a failure of the surroundings (database, disk) with a one-line message.
"""

from __future__ import annotations


class JobtuiError(Exception):
    """Something jobtui can explain in one line; str() is that line."""


class Refusal(JobtuiError):
    """An action was not allowed: its status, the queue or a permission forbids it."""


class BadInput(JobtuiError):
    """A file, argument or answer that cannot be used; the message names where and what."""


class BadValue(BadInput, ValueError):
    """Bad input raised where a ValueError was raised before (callers may still catch it as one). A
    plain ValueError is a bug, never bad input: front ends report it as an internal error."""


class StoreError(JobtuiError):
    """A database problem an operator must act on (wrong schema version, unwritable file, …)."""


class StoreUnreachable(StoreError):
    """The database server did not answer; it may come back (a daemon waits for it)."""


class ReadFailed(JobtuiError, RuntimeError):
    """The database did not answer a read (locked past the busy timeout, unreachable, I/O error); `orig`
    is the driver's own error. Here, not in the driver: the dashboard catches it without importing the
    persistence layer."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__(str(orig).strip() or type(orig).__name__)
        self.orig = orig


class ConnectFailed(ReadFailed):
    """No connection to the database could be made (a server down, stuck or refusing this user): unlike a
    failed query, trying again at once meets the same answer after the same wait."""


class CorruptValue(StoreError):
    """A stored value that is not of its column's kind (a date column holding "garbage"): the database
    was changed outside jobtui. Raised where the row is not known; the read path names it (CorruptRow)."""

    def __init__(self, value: object, expected: str) -> None:
        super().__init__(f"database: {quoted_value(value)} is not {expected}")
        self.value = value
        self.expected = expected


class CorruptRow(StoreError):
    """A row holding a value jobtui does not know, named with its field: `database: job 1: status
    "BOGUS" is not a job status`. An operator repairs it (or deletes the row); jobtui does not guess."""

    def __init__(self, row: str, field: str, value: object, expected: str) -> None:
        super().__init__(f"database: {row}: {field} {quoted_value(value)} is not {expected}")
        self.row = row
        self.field = field


def quoted_value(value: object, limit: int = 60) -> str:
    """A stored value as a message quotes it: in double quotes, cut short past `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    return f'"{text[:limit]}…"' if len(text) > limit else f'"{text}"'
