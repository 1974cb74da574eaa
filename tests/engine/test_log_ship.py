"""The engine ships each held job's log file into the database, and readers read it there, so a job's
log reads the same from any host (issue 15)."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from jobtui.engine.db.models import LOG_CHUNKS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.reads import Reads
from jobtui.engine.worker.batch import HELD_BACK_S
from jobtui.engine.worker.logship import LogShipper, Source
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.runner import OpContext
from tests.support.helpers import job_of, run_until_status, wait_for
from tests.support.ops_running import running_op, wait_op_started

BACKENDS = ("sqlite", "postgresql")

Submit = Callable[..., int]
NOOP = "jobtui.engine.worker.runner:noop"


def _chunks(store: Store, job_id: int) -> list[tuple[str, int, bytes]]:
    with store.read() as s:
        rows = s.execute(
            select(LOG_CHUNKS.c.host, LOG_CHUNKS.c.file_offset, LOG_CHUNKS.c.data)
            .where(LOG_CHUNKS.c.job_id == job_id)
            .order_by(LOG_CHUNKS.c.id)
        ).all()
    return [(host, offset, bytes(data)) for host, offset, data in rows]


def _shipped(store: Store, job_id: int) -> bytes:
    return b"".join(data for _host, _offset, data in _chunks(store, job_id))


def _read_all(reads: Reads, job_id: int) -> bytes:
    cursor, out = None, b""
    while True:
        piece = reads.log_read(job_id, cursor, 1 << 20)
        cursor = piece.cursor
        if not piece.data:
            return out
        out += piece.data


def test_an_ops_output_and_the_engines_lines_reach_the_database(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit('name = "talk"\n[[run]]\nrun = "printf \'hello from the op\\\\n\\\\033[31m\\\\377\'"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    on_file = Path(job.log_path).read_bytes()
    assert b"hello from the op\n\x1b[31m\xff" in on_file
    assert b"RUN " in on_file and b": started" in on_file and b": done" in on_file
    assert _shipped(store, job_id) == on_file, "the database holds the file's exact bytes, once"
    chunks = _chunks(store, job_id)
    assert {host for host, _o, _d in chunks} == {engine.host}
    offsets = [offset for _h, offset, _d in chunks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert _read_all(Reads(store, Actor("tester")), job_id) == on_file


def test_a_log_file_made_anew_on_its_host_is_shipped_from_its_start(
    store: Store, submit: Submit, engine: Engine, actions: Actions
) -> None:
    """Found by a multi-host probe: the job's file deleted on its host (its log folder cleaned, a container
    made anew) and the job rerun there, the new file, shorter than what had gone, was taken for one cut by
    hand and shipped from its end: its first lines never reached any reader."""
    job_id = submit(
        'name = "talk"\n[[run]]\n'
        "run = 'if [ \"$JOBTUI_EXEC\" = 1 ]; then echo first run, padded padded; else echo again; fi'\n"
    )
    job = run_until_status(engine, job_id, "FINISHED")
    first = Path(job.log_path).read_bytes()
    Path(job.log_path).unlink()
    actions.rerun(job_id, "RUN", run_now=True)
    job = run_until_status(engine, job_id, "FINISHED")
    second = Path(job.log_path).read_bytes()
    assert len(second) < len(first) and b"again" in second and b": started" in second
    assert _read_all(Reads(store, Actor("tester")), job_id) == first + second


@pytest.mark.parametrize(
    "ops",
    [
        '[[pre]]\nrun = "true"\n[[run]]\nargv = ["true"]\n',
        f'[[pre]]\ncall = "{NOOP}"\n[[run]]\ncall = "{NOOP}"\n',
    ],
    ids=["process", "call"],
)
def test_a_job_of_silent_ops_gets_no_file_and_its_lines_reach_the_database(
    store: Store, submit: Submit, engine: Engine, ops: str
) -> None:
    job = run_until_status(engine, submit(f'name = "quiet"\n{ops}'), "FINISHED")
    assert job.id is not None
    assert not Path(job.log_path).exists(), "creating a file would cost more than the rest of the op"
    assert all(line.startswith(b"[jobtui ") for line in _shipped(store, job.id).splitlines())
    said = _said(_read_all(Reads(store, Actor("tester")), job.id))
    assert [line.rsplit(": ", 1)[1] for line in said] == ["started", "done", "started", "done"]
    assert said[0].startswith("PRE ") and said[2].startswith("RUN ")


def test_silent_process_ops_create_no_file_but_their_engines_status_journal(
    store: Store, submit: Submit, engine: Engine
) -> None:
    ids = [submit(f'name = "quiet-{n}"\n[[run]]\nargv = ["true"]\n') for n in range(3)]
    for job_id in ids:
        run_until_status(engine, job_id, "FINISHED")
    files = sorted(path.name for path in store.log_dir.iterdir())
    assert len(files) == 1 and files[0].startswith("ops-") and files[0].endswith(".status"), files
    by_token: dict[str, list[str]] = {}
    for line in filter(None, (store.log_dir / files[0]).read_text().splitlines()):
        token, status = line.split(" ")
        by_token.setdefault(token, []).append(status)
    assert list(by_token.values()) == [["started", "0"]] * 3  # the slots' starters write side by side


def test_a_silent_process_op_timed_out_at_once_logs_started_then_its_termination(
    store: Store, submit: Submit, clock: FakeClock, engine: Engine
) -> None:
    op = "trap 'echo bye' TERM; sleep 30 & wait"
    job_id = submit(f'name = "stuck"\n[[run]]\nrun = "{op}"\ntimeout = "5s"\n')
    wait_op_started(engine, store, job_id)
    clock.advance(6)  # the engine terminates it before its starter would write the line (SILENT_S)
    # It fails though its shell exits 0 once its trap ran: it did not finish in its time.
    assert run_until_status(engine, job_id, "ERROR", "FINISHED").status == "ERROR"
    logged = _logged(store, job_id)
    assert logged[0] == "RUN run-1 [stuck]: started", logged
    assert logged.count("RUN run-1 [stuck]: started") == 1, logged
    assert "bye" in logged and any(line.startswith("op terminated (timed out)") for line in logged), logged


def test_what_a_silent_op_leaves_running_writes_after_its_started_line(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    op = f"(while [ ! -e {gate} ]; do sleep 0.02; done; echo from the background) &"
    job_id = submit(f'name = "leaver"\n[[run]]\nrun = "{op}"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    gate.touch()
    log = Path(job.log_path)
    wait_for(lambda: log.exists() and b"from the background" in log.read_bytes(), what="the background line")
    said = _said(log.read_bytes())
    assert said[0] == "RUN run-1 [leaver]: started" and said.count(said[0]) == 1, said
    assert said.index("from the background") > 0
    assert [line.rsplit(": ", 1)[-1] for line in _logged(store, job_id)] == ["started", "done"]


def test_a_silent_op_after_what_an_earlier_op_left_running_logs_its_started_line_once(
    store: Store, submit: Submit, clock: FakeClock, engine: Engine, tmp_path: Path
) -> None:
    """Bytes of the PRE op's leftover land where the RUN op's part of the log starts: the RUN op's line is
    still found there (by its starter, its engine, a cancel) and written once."""
    gate = tmp_path / "gate"
    leftover = f"(while [ ! -e {gate} ]; do sleep 0.02; done; echo leftover) &"
    job_id = submit(
        f'name = "busy"\n[[pre]]\nrun = "echo pre; {leftover}"\n'
        '[[run]]\nrun = "trap \'echo bye\' TERM; sleep 30 & wait"\ntimeout = "5s"\n'
    )
    # The RUN op started (not the PRE op, which may still show as running): its deadline counts from now.
    engine.run_until(lambda: getattr(running_op(store, job_id), "step", None) == "RUN")
    gate.touch()
    log = Path(job_of(store, job_id).log_path)
    wait_for(lambda: b"leftover" in log.read_bytes(), what="the leftover's line")
    clock.advance(6)  # the engine times the silent RUN op out, within its first second
    run_until_status(engine, job_id, "ERROR")
    said = _said(log.read_bytes())
    assert said.count("RUN run-1 [busy]: started") == 1, said
    assert said.index("RUN run-1 [busy]: started") < said.index("bye"), said


def test_a_process_op_writes_its_started_line_before_its_first_byte_after_a_silent_one(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit('name = "late"\n[[pre]]\nrun = "true"\n[[run]]\nrun = "echo spoke"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    on_file = _said(Path(job.log_path).read_bytes())
    assert on_file[0].startswith("RUN ") and on_file[0].endswith(": started") and on_file[1] == "spoke"
    logged = _logged(store, job_id)
    assert [line.rsplit(": ", 1)[-1] for line in logged] == ["started", "done", "started", "spoke", "done"]


def test_a_silent_process_op_that_runs_on_shows_its_started_line(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    job_id = submit(f'name = "long"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    try:
        # Its starter writes the line once the op has run SILENT_S without a word; the engine ships it.
        engine.run_until(lambda: b": started" in _shipped(store, job_id))
    finally:
        gate.touch()
    run_until_status(engine, job_id, "FINISHED")
    assert [line.rsplit(": ", 1)[-1] for line in _logged(store, job_id)] == ["started", "done"]


def test_a_silent_process_ops_started_line_is_kept_when_its_job_is_canceled(
    store: Store, submit: Submit, actions: Actions, engine: Engine
) -> None:
    job_id = submit('name = "hushed"\n[[run]]\nrun = "exec sleep 30"\n')
    wait_op_started(engine, store, job_id)
    actions.cancel(job_id)  # at once: before the op has run a second
    engine.run_until(lambda: b"op terminated (job CANCELED)" in _shipped(store, job_id))
    logged = _logged(store, job_id)
    assert sum(line.endswith(": started") for line in logged) == 1, logged
    assert logged[0] == "RUN run-1 [hushed]: started", "never after the line saying it was terminated"
    assert logged[1].startswith("op terminated (job CANCELED)"), logged


def test_a_capped_op_ships_at_most_the_cap_and_the_marker(
    store: Store, submit: Submit, actions: Actions, engine: Engine
) -> None:
    actions.set_setting("op_log_cap_mib", 1)
    job_id = submit('name = "loud"\n[[run]]\nrun = "yes | head -c 3145728"\n[[post]]\nrun = "echo after"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    shipped = _shipped(store, job_id)
    assert shipped == Path(job.log_path).read_bytes()
    assert shipped.count(b"y\n") == (1 << 20) // 2
    assert len(shipped) < (1 << 20) + 4096
    assert b"2,097,152 bytes of this op's output skipped" in shipped
    assert b"after\n" in shipped


def test_another_host_reads_the_log_from_the_database(
    db_url: str, clock: FakeClock, store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    job_id = submit('name = "far"\n[[run]]\nrun = "echo output seen elsewhere"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    on_file = Path(job.log_path).read_bytes()
    # Another host: its own log folder, and the engine's file is not there.
    Path(job.log_path).rename(tmp_path / "moved.log")
    elsewhere = Store(db_url, clock=clock, log_dir=tmp_path / "other-host")
    try:
        reads = Reads(elsewhere, Actor("tester"))
        assert _read_all(reads, job_id) == on_file
        end = reads.log_end(job_id, 10)
        assert end.data == on_file[-10:] and end.before == len(on_file) - 10
        piece = reads.log_read(job_id, end.cursor, 1 << 20)
        assert piece.data == b"" and piece.cursor == end.cursor
    finally:
        elsewhere.engine.dispose()


def test_a_job_without_chunks_reads_its_local_file(store: Store, submit: Submit) -> None:
    """Jobs logged before the database held logs (or bulk-loaded by the demo) have only their file."""
    job_id = submit('name = "old"\n[[run]]\nrun = "true"\n')
    path = Path(job_of(store, job_id).log_path)
    path.write_bytes(b"an old log\n")
    reads = Reads(store, Actor("tester"))
    assert _read_all(reads, job_id) == b"an old log\n"
    end = reads.log_end(job_id, 4)
    assert end.data == b"log\n" and end.before == 7


def test_an_engine_resumes_after_what_its_host_shipped(store: Store, submit: Submit, engine: Engine) -> None:
    """A re-adopting engine (a fresh shipper) ships neither twice nor leaves a gap."""
    job_id = submit('name = "again"\n[[run]]\nrun = "echo first"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    before = _chunks(store, job_id)
    shipper = LogShipper(store, engine.host)
    source = Source(job_id, job.log_path)
    assert shipper.pending([source]), "it asks the database where its host stopped"
    with store.write() as s:
        assert not shipper.ship(s, [source])
    assert _chunks(store, job_id) == before
    assert not shipper.pending([source]), "known now: a stat, nothing to ship"
    size = Path(job.log_path).stat().st_size
    with open(job.log_path, "ab") as fh:
        fh.write(b"more\n")
    with store.write() as s:
        shipper.ship(s, [source])
    assert _chunks(store, job_id)[len(before) :] == [(engine.host, size, b"more\n")]


def test_delete_removes_the_chunks(store: Store, submit: Submit, actions: Actions, engine: Engine) -> None:
    job_id = submit('name = "gone"\n[[run]]\nrun = "echo bye"\n')
    run_until_status(engine, job_id, "FINISHED")
    assert _chunks(store, job_id)
    actions.delete(job_id)
    assert _chunks(store, job_id) == []


def test_a_canceled_ops_output_and_its_termination_reach_the_database(
    store: Store, submit: Submit, actions: Actions, engine: Engine
) -> None:
    job_id = submit('name = "stopped"\n[[run]]\nrun = "echo before the cancel; sleep 30"\n')
    engine.run_until(lambda: b"before the cancel" in _shipped(store, job_id))
    actions.cancel(job_id)
    engine.run_until(lambda: b"op terminated (job CANCELED)" in _shipped(store, job_id))
    assert _shipped(store, job_id).count(b"before the cancel") == 1


def writes_to_its_log(context: OpContext) -> None:
    """A call op that writes to its job's log (by the path its context gives)."""
    with open(context.log_path, "a") as log:
        log.write("written by the call\n")


RELEASE, CALLED = threading.Event(), threading.Event()


def waits_for_the_test(context: OpContext) -> None:
    """A call op that runs until the test lets it end (and hands its context on, as to another process)."""
    pickle.dumps(context)
    CALLED.set()
    RELEASE.wait(30)


def _said(data: bytes) -> list[str]:
    """Each line of a log, the engine's stamp taken off."""
    return [
        line.split("] ", 1)[1] if line.startswith("[jobtui ") else line for line in data.decode().splitlines()
    ]


def test_a_call_op_writing_to_its_log_finds_its_started_line_first(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(f'name = "writer"\n[[run]]\ncall = "{__name__}:writes_to_its_log"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    on_file = Path(job.log_path).read_bytes()
    said = _said(on_file)
    assert said[1] == "written by the call" and said[0].endswith(": started") and said[2].endswith(": done")
    assert len(said) == 3
    assert _read_all(Reads(store, Actor("tester")), job_id) == on_file


def test_a_process_op_after_a_silent_call_op_ships_its_file_from_the_start(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """The silent op's lines went to the database alone: the file (the process op's) ships from byte 0,
    and a re-adopting engine resumes after what the file shipped, not after those lines."""
    job_id = submit(f'name = "mixed"\n[[pre]]\ncall = "{NOOP}"\n[[run]]\nrun = "echo from the process"\n')
    job = run_until_status(engine, job_id, "FINISHED")
    on_file = Path(job.log_path).read_bytes()
    whole = _read_all(Reads(store, Actor("tester")), job_id)
    said = _said(whole)
    assert [line.rsplit(": ", 1)[-1] for line in said] == [
        "started",
        "done",
        "started",
        "from the process",
        "done",
    ]
    assert whole.endswith(on_file) and _said(on_file)[0].startswith("RUN ")
    shipper = LogShipper(store, engine.host)
    source = Source(job_id, job.log_path)
    with store.write() as s:
        assert not shipper.ship(s, [source]), "nothing of the file is left to ship"
    assert _read_all(Reads(store, Actor("tester")), job_id) == whole


@pytest.mark.parametrize("fast_lane", [True, False])
def test_a_silent_call_op_logs_the_same_on_either_path(store: Store, submit: Submit, fast_lane: bool) -> None:
    job_id = submit(f'name = "either"\n[[run]]\ncall = "{NOOP}"\n')
    engine = Engine(store, workers=1, fast_lane=fast_lane)
    try:
        run_until_status(engine, job_id, "FINISHED")
    finally:
        engine.shutdown()
    said = _said(_read_all(Reads(store, Actor("tester")), job_id))
    assert [line.rsplit(": ", 1)[1] for line in said] == ["started", "done"]


@pytest.fixture
def running_call(submit: Submit, engine: Engine) -> Iterator[int]:
    """A job whose call op has started and runs until the test sets RELEASE (or the test ends)."""
    RELEASE.clear()
    CALLED.clear()
    job_id = submit(f'name = "running"\n[[run]]\ncall = "{__name__}:waits_for_the_test"\n')
    try:
        engine.run_until(CALLED.is_set)
        yield job_id
    finally:
        RELEASE.set()


def _logged(store: Store, job_id: int) -> list[str]:
    return _said(_read_all(Reads(store, Actor("tester")), job_id))


def test_a_call_op_that_runs_on_shows_its_started_line_and_keeps_it_when_canceled(
    store: Store, actions: Actions, clock: FakeClock, engine: Engine, running_call: int
) -> None:
    # Held back at first (the call may end at once), shipped once the call outlives HELD_BACK_S.
    engine.tick()
    assert b": started" not in _shipped(store, running_call)
    clock.advance(HELD_BACK_S + 1)
    engine.run_until(lambda: b": started" in _shipped(store, running_call))
    actions.cancel(running_call)
    engine.run_until(lambda: job_of(store, running_call).status == "CANCELED")
    assert sum(line.endswith(": started") for line in _logged(store, running_call)) == 1


def test_a_call_ops_started_line_is_not_lost_when_its_job_is_canceled_at_once(
    store: Store, actions: Actions, engine: Engine, running_call: int
) -> None:
    actions.cancel(running_call)  # before the held-back line would ship on its own
    engine.run_until(lambda: b": started" in _shipped(store, running_call))
    assert [line for line in _logged(store, running_call) if line.endswith(": started")]


def test_a_call_op_ending_as_its_started_line_falls_due_logs_it_once(
    store: Store, clock: FakeClock, engine: Engine, running_call: int
) -> None:
    clock.advance(HELD_BACK_S + 1)  # its line falls due ...
    RELEASE.set()  # ... as the op ends: one pass records both
    run_until_status(engine, running_call, "FINISHED")
    assert [line.rsplit(": ", 1)[1] for line in _logged(store, running_call)] == ["started", "done"]


def test_a_started_line_shipped_alone_is_not_lost_when_its_pass_fails(
    store: Store, clock: FakeClock, engine: Engine, running_call: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.advance(HELD_BACK_S + 1)  # the running call's line is due to ship alone ...
    shipper = engine._state.shipper

    def unreachable(*_args: object) -> None:
        raise OperationalError("INSERT INTO log_chunks", {}, Exception("the database went away"))

    with monkeypatch.context() as patched:
        patched.setattr(shipper, "ship_lines", unreachable)
        with pytest.raises(OperationalError):
            engine.tick()  # ... and its pass fails
    engine.run_until(lambda: b": started" in _shipped(store, running_call))
    RELEASE.set()
    run_until_status(engine, running_call, "FINISHED")
    assert [line.rsplit(": ", 1)[1] for line in _logged(store, running_call)] == ["started", "done"]
