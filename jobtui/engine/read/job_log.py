"""A job's log as readers read it: the chunks the engines shipped to the database (on any host), or, for a
job the database holds none of, the local file. Through the plain driver: the dashboard's log views and
`jobtui log` read the same way, the CLI without importing SQLAlchemy."""

from __future__ import annotations

import os
from typing import BinaryIO

from jobtui.engine.db.driver import Reader
from jobtui.engine.domain.logread import LogCursor, LogEnd, LogPiece

# A log read looks at most this many chunks ahead (their sizes first, then only the data it returns).
LOG_ROWS = 1000


def log_read(
    reader: Reader, job_id: int, log_file: str, cursor: LogCursor | None, max_bytes: int
) -> LogPiece:
    """The log's bytes after `cursor` (None: from the start), at most `max_bytes` of them (but at least one
    chunk). The job must be one the reader may view (checked by the caller)."""
    # A reader that found nothing yet asks again where the log is: the engine ships its first chunk a pass
    # after the op starts.
    if cursor is None or (cursor.in_file and cursor.at == 0):
        cursor = LogCursor(not has_chunks(reader, job_id), 0)
    if cursor.in_file:
        return file_read(log_file, cursor.at, max_bytes)
    data, last_id, more = chunks_after(reader, job_id, cursor.at, max_bytes)
    return LogPiece(data, LogCursor(False, last_id), more)


def log_end(reader: Reader, job_id: int, log_file: str, max_bytes: int) -> LogEnd:
    """The last `max_bytes` of the log (whole chunks, then cut to size), and how much came before them (the
    dashboard's tail and full log view)."""
    if not has_chunks(reader, job_id):
        return file_end(log_file, max_bytes)
    sizes = reader.rows(
        "SELECT id, length(data) FROM log_chunks WHERE job_id = :job ORDER BY id DESC LIMIT :rows",
        {"job": job_id, "rows": LOG_ROWS},
    )
    total = reader.value("SELECT sum(length(data)) FROM log_chunks WHERE job_id = :job", {"job": job_id})
    if not sizes:  # deleted between the two reads
        return LogEnd(b"", 0, LogCursor(False, 0))
    last_id = sizes[0][0]
    first_id, taken = last_id, 0
    for chunk_id, size in sizes:
        first_id, taken = chunk_id, taken + size
        if taken >= max_bytes:
            break
    pieces = reader.rows(
        "SELECT data FROM log_chunks WHERE job_id = :job AND id >= :first AND id <= :last ORDER BY id",
        {"job": job_id, "first": first_id, "last": last_id},
    )
    data = b"".join(bytes(piece) for (piece,) in pieces)[-max_bytes:] if max_bytes > 0 else b""
    return LogEnd(data, int(total or 0) - len(data), LogCursor(False, int(last_id)))


def has_chunks(reader: Reader, job_id: int) -> bool:
    return reader.value("SELECT id FROM log_chunks WHERE job_id = :job LIMIT 1", {"job": job_id}) is not None


def chunks_after(reader: Reader, job_id: int, after_id: int, limit_bytes: int) -> tuple[bytes, int, bool]:
    """The job's chunks after chunk `after_id`, whole, up to `limit_bytes` (at least one): their bytes, the
    last one's id (`after_id` when none), and whether more follow already."""
    sizes = reader.rows(
        "SELECT id, length(data) FROM log_chunks WHERE job_id = :job AND id > :after ORDER BY id LIMIT :rows",
        {"job": job_id, "after": after_id, "rows": LOG_ROWS},
    )
    if not sizes:
        return b"", after_id, False
    last_id, taken, more = sizes[0][0], 0, len(sizes) == LOG_ROWS
    for n, (chunk_id, size) in enumerate(sizes):
        if n and taken + size > limit_bytes:
            more = True
            break
        last_id, taken = chunk_id, taken + size
    pieces = reader.rows(
        "SELECT data FROM log_chunks WHERE job_id = :job AND id > :after AND id <= :last ORDER BY id",
        {"job": job_id, "after": after_id, "last": last_id},
    )
    return b"".join(bytes(piece) for (piece,) in pieces), int(last_id), more


def _opened(path: str) -> BinaryIO:
    """A local log, never through a symbolic link (a log folder is shared by a group: a link planted there
    would show another file of the reader's as the job's log), nor blocking on a FIFO."""
    return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC), "rb")


def file_read(path: str, offset: int, max_bytes: int) -> LogPiece:
    """The local file's bytes from `offset` (a log the database does not hold)."""
    reset = False
    try:
        with _opened(path) as fh:
            size = fh.seek(0, 2)
            if size < offset:  # cut by hand: read it again from the start
                offset, reset = 0, True
            fh.seek(offset)
            data = fh.read(max(1, max_bytes))
    except OSError:
        return LogPiece(b"", LogCursor(True, offset))
    end = offset + len(data)
    return LogPiece(data, LogCursor(True, end), end < size, reset)


def file_end(path: str, max_bytes: int) -> LogEnd:
    try:
        with _opened(path) as fh:
            size = fh.seek(0, 2)
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return LogEnd(b"", 0, LogCursor(True, 0))
    return LogEnd(data, start, LogCursor(True, start + len(data)))
