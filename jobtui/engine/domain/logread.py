"""What a reader gets of a job's log, and where it stands in it (see service.reads.Reads.log_read)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogCursor:
    """Where a reader stands in a job's log: after the database's chunk `at`, or, for a job the database
    holds no log of (run before logs went there, or bulk-loaded by the demo), at byte `at` of the local
    file."""

    in_file: bool
    at: int


@dataclass(frozen=True)
class LogPiece:
    """The log's bytes after a cursor, and the cursor after them."""

    data: bytes
    cursor: LogCursor
    more: bool = False  # the read stopped at its limit: more is there already
    reset: bool = False  # the local file shrank (cut by hand): the log started again


@dataclass(frozen=True)
class LogEnd:
    """The last bytes of a log, how many came before them, and the cursor after them."""

    data: bytes
    before: int
    cursor: LogCursor


__all__ = ["LogCursor", "LogEnd", "LogPiece"]
