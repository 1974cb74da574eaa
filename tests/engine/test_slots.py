"""Worker slots: one thread a slot starts queued ops as slots free, never more at once than the engine has
slots; short ops are claimed ahead of the free slots, long ones are not, nor any while an engine of another
host shares the queue; a timeout counts from the op's start; a stopping engine hands back what waits for a
slot; an op terminated while it waits never starts; a pass waits to gather ends only while every slot has
its next op queued; each op's part of the log ends with one line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from jobtui.engine.db.models import Job
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.batch import HELD_UP_S, SLOT_WAIT_S
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.slots import NEVER_STARTED, SlotHandle, Slots
from tests.support.helpers import definition, job_of, wait_for
from tests.support.ops_running import wait_op_started

NOOP = 'call = "jobtui.engine.worker.runner:noop"'


def statuses(store: Store, ids: list[int]) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(Job.status).where(Job.id.in_(ids)).order_by(Job.id)).all())


def finished(store: Store, ids: list[int]) -> Callable[[], bool]:
    return lambda: statuses(store, ids) == ["FINISHED"] * len(ids)


def passes_to_drain(store: Store, engine: Engine, jobs: int) -> int:
    """How many engine passes `jobs` no-op jobs take, submitted at once, to finish."""
    try:
        ids = Actions(store, Actor("tester")).submit_many(
            definition(f'name = "burst"\n[[run]]\n{NOOP}\n'), jobs
        )
        passes = 0

        def done() -> bool:
            nonlocal passes
            passes += 1
            return finished(store, ids)()

        engine.run_until(done, timeout=60)
    finally:
        engine.shutdown()
    return passes


def test_a_burst_of_short_jobs_is_claimed_ahead_of_the_free_slots(store: Store) -> None:
    passes = passes_to_drain(store, Engine(store, workers=2), 200)
    # Claiming for the free slots alone takes one pass per two jobs: 100 passes.
    assert passes < 60, f"{passes} passes for 200 jobs on 2 slots"


def test_no_job_is_claimed_ahead_while_an_engine_of_another_host_shares_the_queue(store: Store) -> None:
    elsewhere = Engine(store, workers=1, host="host-b")
    elsewhere.register()
    try:
        passes = passes_to_drain(store, Engine(store, workers=2, host="host-a"), 60)
    finally:
        elsewhere.shutdown()
    # Two slots, never more claimed: one pass per two jobs at least. Were this engine to die, the other
    # host could not tell a job waiting for a slot from one whose op ran.
    assert passes >= 30, f"{passes} passes for 60 jobs on 2 slots"


def test_never_more_ops_run_at_once_than_the_engine_has_slots(store: Store, tmp_path: Path) -> None:
    running, ledger = tmp_path / "running", tmp_path / "ledger"
    running.mkdir()
    # Each op counts the ops running beside it (itself included) while it runs.
    op = (
        f"touch {running}/$JOBTUI_JOB_ID; ls {running} | wc -l >> {ledger}; sleep 0.02; "
        f"rm {running}/$JOBTUI_JOB_ID"
    )
    engine = Engine(store, workers=2)
    try:
        ids = Actions(store, Actor("tester")).submit_many(
            definition(f'name = "short"\n[[run]]\nrun = "{op}"\n'), 60
        )
        engine.run_until(finished(store, ids), timeout=60)
    finally:
        engine.shutdown()
    counts = [int(n) for n in ledger.read_text().split()]
    assert len(counts) == 60
    assert max(counts) <= 2, counts


def test_an_engine_whose_ops_run_long_claims_only_for_its_free_slots(store: Store, tmp_path: Path) -> None:
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    # Ops that run until the test lets them go, after ops that ran a second: longer than any pass.
    spec = definition(f'name = "long"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    engine = Engine(store, workers=2)
    try:
        first = actions.submit_many(definition('name = "second"\n[[run]]\nrun = "sleep 1"\n'), 2)
        engine.run_until(finished(store, first))
        later = actions.submit_many(spec, 6)
        engine.run_until(lambda: statuses(store, later).count("RUNNING") == 2)
        for _ in range(5):
            engine.tick()
        # The four the engine has no slot for stay in the queue, for any other engine to take.
        assert sorted(statuses(store, later)) == ["READY"] * 4 + ["RUNNING"] * 2
        gate.touch()
        engine.run_until(finished(store, later))
    finally:
        gate.touch()
        engine.shutdown()


def test_an_ops_timeout_counts_from_its_start_not_from_its_wait_for_a_slot(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    first = actions.submit(
        definition(f'name = "first"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    )
    second = actions.submit(definition('name = "second"\n[[run]]\nrun = "true"\ntimeout = "10s"\n'))
    engine = Engine(store, workers=1)
    try:
        engine._batch.prefetch = 1  # as after a burst of short ops: one job claimed ahead
        engine.run_until(lambda: statuses(store, [first, second]) == ["RUNNING", "RUNNING"])
        clock.advance(60)  # the second waited for the only slot six times its timeout
        for _ in range(3):
            engine.tick()
        gate.touch()
        engine.run_until(finished(store, [first, second]))
    finally:
        gate.touch()
        engine.shutdown()


def test_an_engine_stopping_hands_back_the_jobs_whose_op_waits_for_a_slot(
    store: Store, tmp_path: Path
) -> None:
    actions = Actions(store, Actor("tester"))
    gate, ledger = tmp_path / "go", tmp_path / "ledger"
    first = actions.submit(
        definition(f'name = "first"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    )
    second = actions.submit(definition(f'name = "second"\n[[run]]\nrun = "echo ran >> {ledger}"\n'))
    engine = Engine(store, workers=1, host="host-a")
    engine._batch.prefetch = 1  # as after a burst of short ops: one job claimed ahead
    engine.run_until(lambda: statuses(store, [first, second]) == ["RUNNING", "RUNNING"])
    wait_op_started(engine, store, first)  # its pid recorded: the only slot runs it
    engine.shutdown()
    # The second never started: back in the queue for any engine, on any host, not left RUNNING without
    # an engine (another host's engine could not tell it never started, and would abend it).
    assert statuses(store, [first, second]) == ["RUNNING", "READY"]
    assert not ledger.exists()
    other = Engine(store, workers=1, host="host-b")
    try:
        other.run_until(lambda: statuses(store, [second]) == ["FINISHED"])
    finally:
        gate.touch()
        other.shutdown()
    assert ledger.read_text() == "ran\n"
    log = Path(job_of(store, second).log_path).read_text()
    assert "never started before the engine stopped; handed back" in log


def test_an_op_terminated_while_it_waits_for_a_slot_never_starts() -> None:
    release = threading.Event()
    started: list[str] = []
    ended = threading.Event()
    slots = Slots(1, on_end=ended.set)

    def blocking(handle: SlotHandle) -> Callable[[], None]:
        started.append("first")
        return lambda: release.wait(10) and None

    def second(handle: SlotHandle) -> Callable[[], None]:
        started.append("second")
        return lambda: None

    try:
        first_handle = slots.submit(SlotHandle("", None), blocking)
        queued = slots.submit(SlotHandle("", None), second)
        wait_for(lambda: started == ["first"], what="the first op to take the only slot")
        assert queued.queued and queued.poll() is None
        assert queued.terminate() == []
        assert queued.poll() == NEVER_STARTED
        release.set()
        wait_for(lambda: first_handle.ran_s is not None, what="the first op to end")
        third = slots.submit(SlotHandle("", None), second)
        wait_for(lambda: third.ran_s is not None, what="the slot to take the next op")
    finally:
        release.set()
        slots.close()
    assert started == ["first", "second"]  # the terminated one never ran; the next one did


def test_a_pass_waits_to_gather_ends_only_while_every_slot_has_its_next_op_queued() -> None:
    """Group commit must never idle a slot: the engine's pass waits (Slots.wait_while_well_fed) only while
    each slot has an op queued behind its running one, and comes as soon as one has not."""
    release = threading.Event()
    started: list[str] = []
    slots = Slots(1, on_end=lambda: None)

    def blocking(handle: SlotHandle) -> Callable[[], None]:
        started.append("first")
        return lambda: release.wait(30) and None

    def quick(handle: SlotHandle) -> Callable[[], None]:
        started.append("next")
        return lambda: None

    try:
        slots.submit(SlotHandle("", None), blocking)
        wait_for(lambda: started == ["first"], what="the first op to take the only slot")
        assert not slots.well_fed()
        began = time.monotonic()
        slots.wait_while_well_fed(30)  # nothing queued: the next pass comes at once
        assert time.monotonic() - began < 10
        slots.submit(SlotHandle("", None), quick)
        assert slots.well_fed()
        returned = threading.Event()
        waiter = threading.Thread(target=lambda: (slots.wait_while_well_fed(30), returned.set()))
        began = time.monotonic()
        waiter.start()
        release.set()  # the slot takes the queued op: the queue is short now, the pass comes
        waiter.join(20)
        assert returned.is_set() and time.monotonic() - began < 20
        assert not slots.well_fed()
    finally:
        release.set()
        slots.close()


def test_each_op_ends_its_part_of_the_log_with_one_line_after_its_output(store: Store) -> None:
    spec = definition(
        'name = "lines"\n[[pre]]\nname = "build"\nrun = "echo building"\n'
        f'[[run]]\nname = "call"\n{NOOP}\n'
        '[[run]]\nname = "deploy"\nrun = "echo deploying"\n'
        '[[post]]\nname = "fail"\nrun = "echo failing; exit 3"\non_error = "ignore"\n'
    )
    engine = Engine(store, workers=2)
    try:
        ids = Actions(store, Actor("tester")).submit_many(spec, 20)
        engine.run_until(finished(store, ids), timeout=60)
        with store.read() as s:
            paths = s.scalars(select(Job.log_path).where(Job.id.in_(ids))).all()
    finally:
        engine.shutdown()
    for path in paths:  # the target of a job without targets is its name
        lines = [line.split("] ", 1)[-1] for line in Path(path).read_text().splitlines()]
        assert lines == [
            "PRE build [lines]: started",
            "building",
            "PRE build [lines]: done",
            "RUN call [lines]: started",
            "RUN call [lines]: done",
            "RUN deploy [lines]: started",
            "deploying",
            "RUN deploy [lines]: done",
            "POST fail [lines]: started",
            "failing",
            "POST fail [lines]: exit 3",
        ], path


def test_a_job_whose_op_waits_long_for_a_slot_goes_back_to_the_queue_until_one_frees(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """Claimed ahead after a burst of short ops, behind an op that lasts: it read Running, with a start
    date and its task running, while nothing of it ran (QA: three slow jobs "Running" on one slot)."""
    from jobtui.engine.service.reads import Reads

    actions = Actions(store, Actor("tester"))
    gate, ledger = tmp_path / "go", tmp_path / "ledger"
    first = actions.submit(
        definition(f'name = "first"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    )
    second = actions.submit(definition(f'name = "second"\n[[run]]\nrun = "echo ran >> {ledger}"\n'))
    engine = Engine(store, workers=1)
    try:
        engine._batch.prefetch = 1  # as after a burst of short ops: one job claimed ahead
        engine.run_until(lambda: statuses(store, [first, second]) == ["RUNNING", "RUNNING"])
        wait_op_started(engine, store, first)  # the only slot runs the first: the second waits
        for _ in range(3):
            engine.tick()
        assert statuses(store, [first, second]) == ["RUNNING", "RUNNING"]  # a short wait changes nothing
        clock.advance(SLOT_WAIT_S + 1)
        for _ in range(3):
            engine.tick()
        assert statuses(store, [first, second]) == ["RUNNING", "READY"]
        [task] = Reads(store, Actor("tester")).detail(second)["tasks"]
        assert task["status"] == "SCHEDULED"
        assert [step["status"] for step in task["steps"]] == ["pending"]
        released = [row for row in Reads(store, Actor("tester")).audit(second) if row["action"] == "release"]
        assert released[-1]["comment"] == (
            f"waited {SLOT_WAIT_S + 1:.0f} s for a worker slot behind ops still running: back in the queue"
        )
        for _ in range(3):
            engine.tick()
        assert statuses(store, [second]) == ["READY"]  # claimed again only when a slot frees
        gate.touch()
        engine.run_until(finished(store, [first, second]))
    finally:
        gate.touch()
        engine.shutdown()
    assert ledger.read_text() == "ran\n"  # it ran once, when a slot took it


def _claimed_ahead_behind_a_long_op(
    store: Store, engine: Engine, tmp_path: Path
) -> tuple[int, int, Path, Path]:
    """A job whose op runs until the test lets it go, and one claimed ahead of it on the only slot."""
    actions = Actions(store, Actor("tester"))
    gate, ledger = tmp_path / "go", tmp_path / "ledger"
    first = actions.submit(
        definition(f'name = "first"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    )
    second = actions.submit(definition(f'name = "second"\n[[run]]\nrun = "echo ran >> {ledger}"\n'))
    engine._batch.prefetch = 1  # as after a burst of short ops: one job claimed ahead
    engine.run_until(lambda: statuses(store, [first, second]) == ["RUNNING", "RUNNING"])
    wait_op_started(engine, store, first)
    return first, second, gate, ledger


def test_a_job_handed_back_as_a_slot_frees_is_claimed_again_and_runs(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """Found by review: claimed again in the pass that handed it back, the engine let go of it at that
    pass's commit, and it stayed RUNNING with nothing to run it."""
    engine = Engine(store, workers=1)
    try:
        first, second, gate, ledger = _claimed_ahead_behind_a_long_op(store, engine, tmp_path)
        clock.advance(SLOT_WAIT_S + 1)
        Actions(store, Actor("tester")).cancel(first)  # the slot frees in the pass that hands back
        engine.run_until(finished(store, [second]))
    finally:
        gate.touch()
        engine.shutdown()
    assert ledger.read_text() == "ran\n"


def test_an_engine_stopping_before_a_hand_back_committed_leaves_the_op_to_run(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """Found by review: taken back from the queue, its hand-back not yet committed (a pass that failed),
    the stopping engine released the job with its op still recorded as started: the next engine ended it
    FINISHED without running it."""
    engine = Engine(store, workers=1)
    try:
        _first, second, gate, ledger = _claimed_ahead_behind_a_long_op(store, engine, tmp_path)
        clock.advance(SLOT_WAIT_S + 1)
        engine._batch._withdraw_waiting()  # what a pass does first; the stop comes before its commit
    finally:
        engine.shutdown()
    gate.touch()
    other = Engine(store, workers=1)
    try:
        other.run_until(finished(store, [second]))
    finally:
        other.shutdown()
    assert ledger.read_text() == "ran\n"


def test_no_job_is_claimed_ahead_for_slots_held_up_by_ops_that_last(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """Found by an operator: after a burst of short ops, jobs were claimed ahead while every slot ran an
    op of minutes; each read Running (`workers`: BUSY 8/3), its op's Started ticking, until it was handed
    back 5 s later without having run. Slots held up by such ops take nothing from the queue soon."""
    actions = Actions(store, Actor("tester"))
    gate = tmp_path / "go"
    long = actions.submit_many(
        definition(f'name = "long"\n[[run]]\nrun = "while [ ! -e {gate} ]; do sleep 0.05; done"\n'), 2
    )
    engine = Engine(store, workers=2)
    try:
        engine.run_until(lambda: statuses(store, long) == ["RUNNING", "RUNNING"])
        for job_id in long:
            wait_op_started(engine, store, job_id)
        engine._batch.prefetch = 4  # as after a burst of short ops
        clock.advance(HELD_UP_S + 1)  # both slots' ops have run a while
        short = actions.submit_many(definition('name = "short"\n[[run]]\nrun = "true"\n'), 3)
        for _ in range(5):
            engine.tick()
        assert statuses(store, short) == ["READY"] * 3
        gate.touch()
        engine.run_until(finished(store, [*long, *short]))
    finally:
        gate.touch()
        engine.shutdown()
