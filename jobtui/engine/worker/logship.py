"""Shipping the held jobs' log files into the database (table log_chunks), so every host reads them.

The op and the engine write a job's log to a file on the engine's host (runner, state.append_log); the
file stays the engine's working copy and the database is what readers read. Each pass the engine stats the
files of the jobs it holds and inserts what they gained as chunks: a silent op costs one stat. Where a
chunk began in its host's file is stored with it, so an engine re-adopting a job after a crash resumes
right after what its host shipped: nothing twice, nothing lost.

The engine's pass ships what its held jobs' files gained in its batch transaction (`pending`, then
`ship`); a transaction that records how an op ended ships that job's whole file first (`ship_job`,
`ship_all`, after the last line went to the file); `forget` when a job is no longer held (`ship` also
forgets the jobs it is no longer given).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import pendulum
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import LOG_CHUNKS
from jobtui.engine.db.raw import execute_many, select_rows
from jobtui.engine.db.store import Store
from jobtui.engine.worker.logcap import LogCap
from jobtui.engine.worker.opstarter import APPEND_READABLE, READ

# At most this much of one job's log per pass: the pass's transaction stays short; the rest goes next pass
# (which comes at once: the pass wakes the engine when some is left).
PASS_BYTES = 256 * 1024
# One row holds at most this much, so a reader's window of the log is a few rows.
CHUNK_BYTES = 64 * 1024
# What ship_job reads at once when it ships everything left (an op's share is capped, not memory).
READ_BYTES = 4 * 1024 * 1024
_SESSION_KEY = "jobtui_logship"
# The host of a chunk that was never in a file: the engine's lines for an op that wrote nothing (ship_ended).
FILELESS = ""
# Straight through the driver (db/raw.py): every pass runs them.
_ALIVE = "SELECT id FROM jobs WHERE id IN :ids"
_CHUNK = (
    "INSERT INTO log_chunks (job_id, host, file_offset, data, at) "
    "VALUES (:job_id, :host, :file_offset, :data, :at)"
)


@dataclass(frozen=True)
class Source:
    """One held job's log: its file, and the cap on the op running now, if one is."""

    job_id: int
    path: str
    cap: LogCap | None = None
    until: int | None = None  # never past this offset of the file (a line of the engine's end)


class LogShipper:
    def __init__(self, store: Store, host: str) -> None:
        self.store = store
        self.host = host
        # How far each job's file was shipped (committed); a job missing here is asked of the database.
        self._shipped: dict[int, int] = {}

    def starts_empty(self, job_id: int) -> None:
        """Nothing of the job's log was shipped yet, anywhere (a job never claimed before): its first
        ship needs no look at the database."""
        self._shipped[job_id] = 0

    def forget(self, job_id: int) -> None:
        self._shipped.pop(job_id, None)

    def pending(self, sources: Iterable[Source]) -> bool:
        """Whether any file has bytes to ship: a stat each, no database (a job this engine never shipped
        counts when its file exists: the database says how much of it went already). Forgets the jobs
        not given: the engine holds them no longer."""
        given = list(sources)
        self._prune({source.job_id for source in given})
        for source in given:
            end = _end(source)
            # Also when it shrank (made anew, or cut by hand): shipped again from its start.
            if end is not None and end != self._shipped.get(source.job_id, -1):
                return True
        return False

    def ship(self, s: Session, sources: Iterable[Source], limit: int | None = PASS_BYTES) -> bool:
        """Insert what the files gained (at most `limit` bytes a job) in `s`, in one statement; whether
        some is left for the next call. Forgets the jobs not given."""
        given = {source.job_id: source for source in sources}
        self._prune(set(given))
        return self._ship(s, given, limit)

    def ship_all(self, s: Session, sources: Iterable[Source]) -> None:
        """`ship_job` for many jobs at once (their ops ended in one batch): one statement per round."""
        given = {source.job_id: source for source in sources}
        while given and self._ship(s, given, READ_BYTES):
            pass

    def ship_ended(self, s: Session, ended: list[tuple[Source, str]]) -> set[int]:
        """The ops of these jobs ended: append each one's closing lines (`text`) to its file and ship the
        file to its end, one open of the file for both; `ship_all` for what one read leaves. A job without
        a file (its ops wrote nothing) gets none: `text` goes to the database alone (FILELESS). The jobs
        whose `text` went into their file (a file is no transaction: written, whatever the commit does)."""
        written: set[int] = set()
        if not ended:
            return written
        given = {source.job_id: source for source, _ in ended}
        tentative = _tentative(s)
        self._resume(s, [j for j in given if j not in self._shipped and j not in tentative])
        alive = {row["id"] for row in select_rows(s, _ALIVE, list(given))}
        rows: list[dict[str, object]] = []
        left = []
        now = self.store.now()
        for source, text in ended:
            if not source.path:
                continue
            start = _offset(s, self._shipped, source.job_id)
            try:
                fd = os.open(source.path, APPEND_READABLE & ~os.O_CREAT)
            except FileNotFoundError:
                if source.job_id in alive:
                    rows.append(self._fileless(source.job_id, text, now))
                continue
            except OSError:
                continue
            try:
                os.write(fd, text.encode())
                written.add(source.job_id)
                end = os.lseek(fd, 0, os.SEEK_END)
                if source.job_id not in alive:  # deleted meanwhile
                    tentative[source.job_id] = min(start, end)
                    continue
                start = _from_start_if_shorter(start, end)
                data = os.pread(fd, min(end - start, READ_BYTES), start)
            except OSError:
                continue
            finally:
                os.close(fd)
            self._rows(source.job_id, start, data, now, rows)
            tentative[source.job_id] = start + len(data)
            if start + len(data) < end:
                left.append(source)
        self._commit_later(s)
        execute_many(s, _CHUNK, rows)
        self.ship_all(s, left)
        return written

    def ship_lines(self, s: Session, lines: dict[int, str]) -> None:
        """Engine lines that never went to a file, each job's as one chunk (FILELESS)."""
        if not lines:
            return
        alive = {row["id"] for row in select_rows(s, _ALIVE, list(lines))}
        now = self.store.now()
        execute_many(
            s,
            _CHUNK,
            [self._fileless(job_id, text, now) for job_id, text in lines.items() if job_id in alive],
        )

    def ship_job(
        self, s: Session, job_id: int, path: str, cap: LogCap | None = None, until: int | None = None
    ) -> None:
        """Ship everything `path` holds beyond what went already (up to `cap`, an op's cap while it runs;
        never past `until`), in `s`: how an op ended is recorded in the same transaction, so whoever sees
        the job's end sees its log's last line too. A job this engine no longer holds (its op killed for
        it) ships from where this host's chunks of it end: a later run of the job on this host ships its
        file on from after them, nothing twice."""
        while self._ship(s, {job_id: Source(job_id, path, cap, until)}, READ_BYTES):
            pass

    # -- inside -----------------------------------------------------------------------------------------

    def _prune(self, held: set[int]) -> None:
        for job_id in [j for j in self._shipped if j not in held]:
            del self._shipped[job_id]

    def _ship(self, s: Session, given: dict[int, Source], limit: int | None) -> bool:
        ends = {job_id: end for job_id, source in given.items() if (end := _end(source)) is not None}
        self._resume(s, [j for j in ends if j not in self._shipped and j not in _tentative(s)])
        wanted = [j for j, end in ends.items() if end != _offset(s, self._shipped, j)]
        if not wanted:
            return False
        # A deleted job's chunks must not come back after its delete: ship only for jobs still there.
        alive = {row["id"] for row in select_rows(s, _ALIVE, wanted)}
        rows: list[dict[str, object]] = []
        left = False
        now = self.store.now()
        for job_id in wanted:
            if job_id in alive:
                left |= self._read(s, given[job_id], ends[job_id], limit, rows, now)
        execute_many(s, _CHUNK, rows)
        return left

    def _resume(self, s: Session, job_ids: list[int]) -> None:
        """Start each job where this host's chunks end (0 when it has none): after a crash, a re-adopting
        engine ships on from there."""
        if not job_ids:
            return
        end = func.max(LOG_CHUNKS.c.file_offset + func.length(LOG_CHUNKS.c.data))
        rows = s.execute(
            select(LOG_CHUNKS.c.job_id, end)
            .where(LOG_CHUNKS.c.job_id.in_(job_ids), LOG_CHUNKS.c.host == self.host)
            .group_by(LOG_CHUNKS.c.job_id)
        ).all()
        found = {job_id: shipped for job_id, shipped in rows}
        tentative = _tentative(s)
        for job_id in job_ids:
            tentative[job_id] = int(found.get(job_id) or 0)
        self._commit_later(s)

    def _read(
        self,
        s: Session,
        source: Source,
        end: int,
        limit: int | None,
        rows: list[dict[str, object]],
        now: pendulum.DateTime,
    ) -> bool:
        tentative = _tentative(s)
        went = _offset(s, self._shipped, source.job_id)
        start = _from_start_if_shorter(went, end)
        if start != went:  # said even when the new file is empty: no pass looks at it again for nothing
            tentative[source.job_id] = start
            self._commit_later(s)
        if start >= end:
            return False
        want = end - start if limit is None else min(end - start, limit)
        try:
            # Never through a symbolic link: what is read goes to the database, for every reader.
            fd = os.open(source.path, READ)
            try:
                data = os.pread(fd, want, start)
            finally:
                os.close(fd)
        except OSError:
            return False
        if not data:  # shrank between the stat and the read: the next call sees its new size
            return False
        self._rows(source.job_id, start, data, now, rows)
        tentative[source.job_id] = start + len(data)
        self._commit_later(s)
        return start + len(data) < end

    def _rows(
        self, job_id: int, start: int, data: bytes, now: pendulum.DateTime, rows: list[dict[str, object]]
    ) -> None:
        """`data`, read at `start` of the job's file, as chunk rows."""
        for at in range(0, len(data), CHUNK_BYTES):
            rows.append(
                {
                    "job_id": job_id,
                    "host": self.host,
                    "file_offset": start + at,
                    "data": data[at : at + CHUNK_BYTES],
                    "at": now,
                }
            )

    def _fileless(self, job_id: int, text: str, now: pendulum.DateTime) -> dict[str, object]:
        """The chunk of engine lines that never went to a file: from no host's file (`_resume` skips it)."""
        return {"job_id": job_id, "host": FILELESS, "file_offset": 0, "data": text.encode(), "at": now}

    def _commit_later(self, s: Session) -> None:
        """What was shipped counts once the transaction commits (never when it fails: shipped again)."""
        if s.info.get(f"{_SESSION_KEY}_hooked"):
            return
        s.info[f"{_SESSION_KEY}_hooked"] = True
        self.store.after_commit(s, lambda: self._shipped.update(_tentative(s)))


def _tentative(s: Session) -> dict[int, int]:
    """How far each job is shipped in the transaction `s` (not yet committed)."""
    found: dict[int, int] = s.info.setdefault(_SESSION_KEY, {})
    return found


def _offset(s: Session, shipped: dict[int, int], job_id: int) -> int:
    tentative = _tentative(s)
    return tentative[job_id] if job_id in tentative else shipped.get(job_id, 0)


def _from_start_if_shorter(start: int, end: int) -> int:
    """Where to ship a file from: after what went (`start`), or from its start when it is shorter than
    that: a new file (deleted and made again: a rerun after its log folder was cleaned, a host's container
    made anew) whose first lines were never shipped, or one cut by hand. Found by a multi-host probe: the
    new file was taken for a cut one and shipped from its end, its first lines ("RUN deploy [a]: started",
    the op's output) lost to every reader. At worst a cut file's first bytes go twice; no line is lost.
    Chunks are read in the order they went (by id), so the new file's follow the old file's."""
    return 0 if end < start else start


def _end(source: Source) -> int | None:
    """How far the file may be shipped: its size, but while a capped op runs never past its cap (the cap
    cuts the file back to there, so what lies beyond may vanish)."""
    if not source.path:
        return None
    try:
        size = os.stat(source.path).st_size
    except OSError:
        return None
    if source.cap is not None:
        size = min(size, source.cap.start + source.cap.limit)
    if source.until is not None:
        size = min(size, source.until)
    return size
