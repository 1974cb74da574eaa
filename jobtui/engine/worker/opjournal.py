"""Reading an op's status from its engine's status journal (written by the op starters, see
`opstarter.write_status`): the last line of the op's token, "started" or its exit status (each line
after a newline of its own, so a line a full disk cut short stands alone).

Read by whoever needs an op's status without its starter's answer: a take-over after its engine died, an
engine re-adopting its own op. A journal holds JOURNAL_OPS ops at most; each is read once, then only what
was appended since (the journals read last are kept parsed).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from jobtui.engine.db.driver import log_file_in
from jobtui.engine.worker.opstarter import READ, STATUS_MARK

# Ops a journal holds before the engine starts the next one (about 5 MB of lines).
JOURNAL_OPS = 100_000
_KEPT = 4  # journals kept parsed


def journal_ref(log_dir: str, worker_id: str, op_number: int, token: str) -> str:
    """The status reference of an engine's `op_number`th op: its journal, then its token."""
    journal = f"{log_dir}/ops-{worker_id}-{op_number // JOURNAL_OPS}.status"
    return f"{journal}{STATUS_MARK}{token}"


def op_log_file(status_ref: str | None, job_id: int) -> str | None:
    """The log file an op of job `job_id` writes to: in the log folder of the engine that started it,
    where its status journal is (`status_ref`), which need not be the reader's (`sudo jobtui cancel` on
    PostgreSQL: each user's data folder holds its logs). None when the op has no status reference."""
    if not status_ref:
        return None
    journal = status_ref.rpartition(STATUS_MARK)[0] or status_ref
    return log_file_in(os.path.dirname(journal), job_id)


def journal_worker(name: str) -> str:
    """The worker id in a journal's file name ("" for another file)."""
    if not (name.startswith("ops-") and name.endswith(".status")):
        return ""
    return name[len("ops-") : -len(".status")].rpartition("-")[0]


def is_journal_ref(ref: str) -> bool:
    return STATUS_MARK in ref


class _Parsed:
    __slots__ = ("inode", "size", "statuses", "tail")

    def __init__(self, inode: int) -> None:
        self.inode = inode
        self.size = 0
        self.statuses: dict[str, str] = {}
        self.tail = b""  # an unfinished last line (its writer is still writing it)


_parsed: OrderedDict[str, _Parsed] = OrderedDict()
_lock = threading.Lock()


def status_in_journal(ref: str) -> str | None:
    """What the journal in `ref` last says of its op: "started", its exit status, or None when nothing
    (its journal missing or unreadable too)."""
    journal, _mark, token = ref.rpartition(STATUS_MARK)
    with _lock:
        parsed = _read(journal)
        return parsed.statuses.get(token) if parsed is not None else None


def _read(journal: str) -> _Parsed | None:
    try:
        fd = os.open(journal, READ)
    except OSError:
        return None
    try:
        stat = os.fstat(fd)
        parsed = _parsed.get(journal)
        if parsed is None or parsed.inode != stat.st_ino or stat.st_size < parsed.size:
            parsed = _Parsed(stat.st_ino)
        _parsed[journal] = parsed
        _parsed.move_to_end(journal)
        while len(_parsed) > _KEPT:
            _parsed.popitem(last=False)
        while parsed.size < stat.st_size:
            data = os.pread(fd, min(stat.st_size - parsed.size, 1 << 20), parsed.size)
            if not data:
                break
            parsed.size += len(data)
            *lines, parsed.tail = (parsed.tail + data).split(b"\n")
            for line in lines:
                token, space, status = line.decode(errors="replace").partition(" ")
                if space:  # not a blank line (each starts with one), nor a piece a full disk cut short
                    parsed.statuses[token] = status
        return parsed
    except OSError:
        return None
    finally:
        os.close(fd)
