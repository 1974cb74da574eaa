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
