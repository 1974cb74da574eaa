"""An op's status in its engine's journal, as a take-over reads it: the last line of its token, read again
as the journal grows, an unfinished line not taken for a status, nothing at all for an op never started;
journals nobody will read again are deleted when an engine starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobtui.engine.db.models import OpRun, Worker
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.opjournal import journal_ref
from jobtui.engine.worker.opstarter import STATUS_MARK, write_status
from jobtui.engine.worker.runner import never_started, read_status_file
from tests.support.ops_running import wait_op_started

Submit = Callable[..., int]


def test_a_take_over_reads_each_ops_status_from_the_journal_as_it_grows(tmp_path: Path) -> None:
    first = journal_ref(str(tmp_path), "w1", 1, "w1-00000001")
    second = journal_ref(str(tmp_path), "w1", 2, "w1-00000002")
    assert never_started(first) and read_status_file(first) is None  # no journal yet
    write_status(first, b"started\n")
    assert not never_started(first) and read_status_file(first) is None  # running: no exit status
    assert never_started(second)
    write_status(second, b"started\n")
    write_status(first, b"3\n")
    assert read_status_file(first) == 3 and read_status_file(second) is None
    journal = Path(first.rpartition("#")[0])
    with journal.open("ab") as out:
        out.write(b"\nw1-00000002 13")  # its starter is still writing the line
    assert read_status_file(second) is None
    with journal.open("ab") as out:
        out.write(b"7\n")
    assert read_status_file(second) == 137 and read_status_file(first) == 3
    with journal.open("ab") as out:
        out.write(b"\nw1-000")  # a line a full disk cut short ...
    write_status(first, b"0\n")  # ... leaves the next one whole
    assert read_status_file(first) == 0 and read_status_file(second) == 137


def test_an_engines_ops_share_a_journal_until_it_holds_its_share(tmp_path: Path) -> None:
    from jobtui.engine.worker.opjournal import JOURNAL_OPS

    refs = [journal_ref(str(tmp_path), "w1", n, f"w1-{n:08x}") for n in (1, JOURNAL_OPS - 1, JOURNAL_OPS)]
    journals = [ref.rpartition("#")[0] for ref in refs]
    assert journals[0] == journals[1] != journals[2]
    assert all(Path(journal).parent == tmp_path for journal in journals)


def test_an_engine_starting_deletes_the_journals_nobody_will_read_again(
    store: Store, submit: Submit, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    """Kept: a live engine's, and one a running op names (a take-over reads it). Deleted: those of an engine
    that stopped, or that fell silent a day ago."""
    gate = tmp_path / "gate"
    job_id = submit(f'name = "long"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.02; done"\n')
    try:
        op = wait_op_started(engine, store, job_id)
        own = Path(op.status_file.rpartition(STATUS_MARK)[0])
        journals = {}
        for worker in ("stopped", "silent", "live", "named"):
            journals[worker] = store.log_dir / f"ops-{worker}-0.status"
            journals[worker].write_text(f"\n{worker}-tok started\n")
        now, long_ago = clock.now(), clock.now().subtract(days=2)
        with store.write() as s:
            for worker, seen, gone in [
                ("stopped", now, now),
                ("silent", long_ago, None),
                ("live", now, None),
                ("named", now, now),
            ]:
                s.add(Worker(id=worker, host="h", pid=1, started_at=seen, heartbeat_at=seen, stopped_at=gone))
            op_run = s.get(OpRun, op.id)
            assert op_run is not None
            op_run.status_file = f"{journals['named']}{STATUS_MARK}named-tok"
            s.add(op_run)
        second = Engine(store)
        try:
            second.register()
        finally:
            second.shutdown()
        assert own.exists() and journals["live"].exists() and journals["named"].exists()
        assert not journals["stopped"].exists() and not journals["silent"].exists()
    finally:
        gate.touch()
