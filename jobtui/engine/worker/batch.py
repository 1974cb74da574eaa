"""One engine pass's writes in one transaction: every op that finished since the last pass is recorded
and its job walked on to its next op, the pids of the ops started since are written, and free slots are
claimed and their jobs walked to their first op, all behind one commit (one fsync).

Ops that end while a commit is in flight wait for the next pass, which takes them all together: the
batch grows with the load. Each job has a savepoint of its own: a job whose walk fails (a bug, a row
the database refuses) is undone alone and tried again next pass, and the rest of the batch stands. Only
a failure of the database itself (unreachable, the commit refused) undoes the whole pass; the engine
then keeps every outcome and claim it meant to record, and records them once the database answers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pendulum
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job
from jobtui.engine.db.store import DATABASE_ERRORS, LeaseLost
from jobtui.engine.errors import CorruptRow
from jobtui.engine.worker import claims, launcher, logship, walker
from jobtui.engine.worker.claims import Claimer
from jobtui.engine.worker.fastlane import FastLane, Writes
from jobtui.engine.worker.outcomes import Outcomes
from jobtui.engine.worker.runner import OpHandle, OpOutcome
from jobtui.engine.worker.slots import SlotHandle
from jobtui.engine.worker.state import EngineState, Held, LaunchSpec, StartedPid

log = logging.getLogger("jobtui.engine")

# Jobs claimed beyond the free slots, while ops end faster than passes come: they wait in the slots' queue,
# and a slot that frees starts the next at once instead of a pass later. Just enough to keep each slot busy
# for four passes (at most PREFETCH_PER_SLOT a slot): ops that outlast them claim only for the free slots and
# leave the rest of the queue to the other engines. The cap binds only ops far shorter than a pass (a no-op
# call): there a pass's round trips and commit are shared by as many jobs as it claims (PostgreSQL, one
# engine, 10,000 no-op jobs: 2,860 jobs/s with 128, 3,330 with 256, 3,220 with 512; lateness of 1,000 jobs
# due at once, p99: 0.39 → 0.32 s; SQLite unchanged).
PREFETCH_PER_SLOT = 256
# An op claimed ahead that has waited this long for a slot (seconds), or ten passes if passes are slower,
# while no slot started an op for as long, waits behind ops that last: its job is handed back
# (claims.hand_back_waiting). Claims ahead are sized to keep the slots busy for four passes: a drain's queue
# turns over well within either, and its slots start ops all the time however loaded the machine.
SLOT_WAIT_S = 5.0  # not less: a machine starved of CPU can hold every slot off for a second
# A slot whose op has run this long (seconds), or four passes if passes are slower, is held up: no job is
# claimed ahead for it (Batch._room). Far beyond a short op's run, even on a loaded machine.
HELD_UP_S = 0.25
SLOT_WAIT_PASSES = 10


@dataclass
class _Finished:
    held: Held
    outcome: OpOutcome
    handle: OpHandle | None


@dataclass
class _Pass:
    """What one pass did, to launch after its commit or to put back if the commit fails."""

    finished: list[_Finished] = field(default_factory=list)
    claimed: list[Held] = field(default_factory=list)
    pids: list[StartedPid] = field(default_factory=list)
    launches: list[tuple[Held, LaunchSpec]] = field(default_factory=list)
    busy: int = 0  # slots taken once this pass commits
    logs: list[logship.Source] = field(default_factory=list)  # the held jobs' log files
    more_logs: bool = False  # some log is left to ship
    look_in_pass: bool = False  # look for due jobs inside the pass's transaction
    lasting: dict[str, str] = field(default_factory=dict)  # held-back lines it ships alone, by log path
    handed_back: set[int] = field(default_factory=set)  # jobs whose op waited too long for a slot


class Batch:
    def __init__(
        self, state: EngineState, outcomes: Outcomes, claimer: Claimer, fast_lane: bool = True
    ) -> None:
        self.state = state
        self.lane = FastLane(state, fast_lane)
        self.outcomes = outcomes
        self.claimer = claimer
        self.prefetch = 0  # jobs claimed beyond the free slots (PREFETCH_PER_SLOT)
        # Jobs whose op was taken back from the slots' queue, and how long it had waited, until a pass
        # that hands them back commits.
        self._waited: dict[int, tuple[Held, float]] = {}
        self._pass_s = 0.0  # how long the last pass that wrote took

    def run(self, now: pendulum.DateTime, ended: list[tuple[Held, OpOutcome]]) -> bool:
        """Record `ended` (and outcomes an earlier pass could not record), walk idle held jobs, claim
        for the free slots; True when it claimed, so the loop comes straight back for more."""
        state = self.state
        began = time.monotonic()
        done = _Pass()
        self._withdraw_waiting()
        ended_ids = {held.job_id for held, _ in ended} | self._waited.keys()
        retried = [
            (h, h.ready_outcome)
            for h in state.held.values()
            if h.ready_outcome is not None and h.job_id not in ended_ids
        ]
        for held, outcome in [*ended, *retried]:
            assert outcome is not None
            done.finished.append(_Finished(held, outcome, held.handle))
        idle = [
            h
            for h in state.held.values()
            if h.handle is None and h.ready_outcome is None and h.job_id not in ended_ids
        ]
        running = _busy(state, ended_ids)
        # What the held jobs' logs gained goes to the database with the pass (a stat per job to know).
        done.logs = log_sources(state.held.values())
        ship = state.shipper.pending(done.logs)
        lasting = state.held_back_since(state.store.clock.elapsed() - HELD_BACK_S)
        writes = bool(
            done.finished
            or state.has_started_pids
            or ship
            or lasting
            or (idle and not state.draining)
            or self._waited
        )
        if not writes:
            # Nothing to write: the leases are read on their own (a cancel must reach a running op).
            self.outcomes.supervisor.check_leases()
            running = _busy(state, set())
        # With other writes to make, the pass looks for due jobs inside its transaction; else it looks
        # first, so an idle engine takes no write lock.
        claim = not state.draining and (writes or self.claimer.look(now, self._room(running)))
        if not (writes or claim):
            return False
        done.look_in_pass = writes
        done.busy = running
        done.pids = state.take_started_pids()
        try:
            with state.store.write(walking=True) as s:
                self._write(s, now, done, idle, claim)
        except BaseException:
            self._put_back(done)
            raise
        for job_id in done.handed_back:
            del self._waited[job_id]
        for held, spec in done.launches:
            if held.job_id in state.held:
                self.outcomes.launch(held, spec)
        self._pass_s = time.monotonic() - began
        self._learn_prefetch(done.finished, self._pass_s)
        if done.more_logs:
            state.wake()  # a log backlog: the next pass comes at once for the rest
        return bool(done.claimed)

    def _withdraw_waiting(self) -> None:
        """Take back from the slots' queue the ops claimed ahead that have waited too long for a slot while
        none started, for this pass to hand their jobs back; and claim none ahead until short ops end
        again."""
        state = self.state
        now = state.store.clock.elapsed()
        too_long = max(SLOT_WAIT_S, SLOT_WAIT_PASSES * self._pass_s)
        if now - state.last_slot_start < too_long:
            return  # the queue moves
        for held in list(state.held.values()):
            handle = held.handle
            if not isinstance(handle, SlotHandle) or handle.queued_at is None:
                continue
            waited = now - handle.queued_at
            if waited >= too_long and handle.withdraw():  # not if a slot started it meanwhile
                held.handle, held.plan, held.withdrawn = None, None, True
                self._waited[held.job_id] = (held, waited)
        if self._waited:
            self.prefetch = 0

    def _hand_back_waiting(self, s: Session, done: _Pass) -> None:
        for held, waited in list(self._waited.values()):
            try:
                with self.state.store.savepoint(s):
                    claims.hand_back_waiting(self.state, s, held, waited)
            except LeaseLost:
                self.state.forget_held(held.job_id)
            except DATABASE_ERRORS:
                raise
            except Exception:
                log.exception("job %s: could not hand it back; trying again next pass", held.job_id)
                continue
            done.handed_back.add(held.job_id)

    def _learn_prefetch(self, finished: list[_Finished], pass_s: float) -> None:
        ran = [
            f.handle.ran_s
            for f in finished
            if isinstance(f.handle, SlotHandle) and f.handle.ran_s is not None
        ]
        if ran:
            # Ops a slot runs in two passes (one to record the last ones, one for the commit to come back),
            # twice over: a loaded machine stretches an op's start more than the pass (/bin/true: 15% faster).
            per_slot = 4 * pass_s / max(sum(ran) / len(ran), 1e-6)
            self.prefetch = min(PREFETCH_PER_SLOT, int(per_slot)) * self.state.slots

    def _room(self, busy: int) -> int:
        """How many jobs to claim with `busy` ops running or queued. None ahead while an engine of another
        host shares the queue: were this engine to die, that engine could not tell an op that waited for a
        slot from one that ran (its status file is on this host), and would abend it. Nor for the slots
        that run an op begun long ago: the short ops the prefetch was learned from ended, and a job claimed
        for such a slot read Running, its op started, while it waited (up to SLOT_WAIT_S, then handed back)
        behind an op that lasts."""
        slots = self.state.slots
        ahead = 0 if self.state.other_hosts else self.prefetch
        if ahead:
            held_up = self.outcomes.slots.running_longer_than(max(HELD_UP_S, 4 * self._pass_s))
            ahead = ahead * (slots - held_up) // slots
        return slots + ahead - busy

    def _write(self, s: Session, now: pendulum.DateTime, done: _Pass, idle: list[Held], claim: bool) -> None:
        state, lane = self.state, self.lane
        writes = Writes()
        lost = self.outcomes.supervisor.check_leases(s)
        if lost:  # dropped, their ops terminated: nothing of theirs is recorded
            done.finished = [f for f in done.finished if f.held.job_id not in lost]
            idle = [h for h in idle if h.job_id not in lost]
            done.busy = _busy(state, {f.held.job_id for f in done.finished})
        if done.pids:
            launcher.record_started_pids(state, s, done.pids)
        if self._waited:
            self._hand_back_waiting(s, done)
        in_lane: list[_Finished] = []
        for finished in done.finished:
            held = finished.held
            held.handle, held.ready_outcome = None, None
            if lane.takes(held, finished.outcome, now):
                in_lane.append(finished)
            else:
                self._job(s, done, held, finished.outcome)
        standing = {h.job_id for h in lane.check_leases(s, [f.held for f in in_lane])}
        for finished in in_lane:
            if finished.held.job_id in standing:
                spec = lane.record(writes, finished.held, finished.outcome, now)
                self._walked_in_lane(s, done, finished.held, spec)
        if not state.draining:
            for held in idle:
                self._job(s, done, held, None)
            free = self._room(done.busy)
            if done.handed_back:
                # Not in the pass that hands jobs back: a job claimed again now would be let go at commit.
                claim = False
            if claim and done.look_in_pass:
                claim = self.claimer.look(now, free, s)
            if claim and free > 0:
                done.claimed = self.claimer.claim_in(s, now, free)
                lane.load_plans(s, done.claimed, now)
                for held in done.claimed:
                    if lane.takes(held, None, now):
                        self._walked_in_lane(s, done, held, lane.walk(writes, held, now))
                    else:
                        self._job(s, done, held, None)
        lane.write(s, writes)
        # The lane's ended ops: their closing lines, and their logs up to them, with their end (the
        # walker's ship theirs as they record them).
        # An op that runs on (a call that takes its time): its "started" line is not kept from readers
        # (before the ended ops' lines: an op may end in the pass its line became due).
        lasting = done.lasting = state.take_held_back_since(state.store.clock.elapsed() - HELD_BACK_S)
        if lasting:
            paths = {held.log_path: held.job_id for held in state.held.values()}
            state.shipper.ship_lines(s, {paths[p]: text for p, text in lasting.items() if p in paths})
        ended = [src for src in done.logs if src.job_id in writes.ended_ops]
        in_files = state.shipper.ship_ended(
            s, [(src, state.held_back(src.path) + writes.ended_ops[src.job_id]) for src in ended]
        )
        # Lines written to a file go now (a failed pass must not write them twice); those shipped alone,
        # once the pass commits (a failed pass ships them again).
        fileless = [src.path for src in ended if src.job_id not in in_files and state.held_back(src.path)]
        for src in ended:
            if src.job_id in in_files:
                state.drop_held_back(src.path)
        if fileless:
            state.store.after_commit(s, functools.partial(_drop_held_back, state, fileless))
        # The jobs held now (claims included: their files are not there yet, but they are not forgotten).
        done.more_logs = state.shipper.ship(s, log_sources(state.held.values()))

    def _walked_in_lane(self, s: Session, done: _Pass, held: Held, spec: LaunchSpec | None) -> None:
        if spec is not None:
            done.launches.append((held, spec))
            done.busy += 1
        else:  # the job ended
            held.plan = None
            self.state.let_go_at_commit(s, held.job_id)

    def _job(self, s: Session, done: _Pass, held: Held, outcome: OpOutcome | None) -> None:
        """Record `outcome` (or, without one, walk the held job on) in a savepoint of its own."""
        state = self.state
        spec: LaunchSpec | None = None
        try:
            with state.store.savepoint(s):
                if outcome is not None:
                    spec = self.outcomes.record(s, held, outcome)
                else:
                    job = s.get(Job, held.job_id)
                    if job is None or job.lease != held.lease:
                        state.forget_held(held.job_id)
                        return
                    spec = walker.walk(state, s, job, held)
        except LeaseLost:
            state.forget_held(held.job_id)
            return
        except DATABASE_ERRORS:
            raise
        except CorruptRow as problem:
            # Its row was changed by hand (a definition that is none): said once, in one line, not with a
            # traceback every pass; undone alone and tried again each pass, for an operator may repair it.
            if held.unreadable != str(problem):
                held.unreadable = str(problem)
                log.error("job %s cannot go on: %s (repair or delete the row)", held.job_id, problem)
            held.ready_outcome = outcome
            done.busy += 1
            return
        except Exception:
            # A poison job: undone alone, its outcome kept for the next pass; the rest of the batch goes on.
            log.exception("job %s: could not record its progress; trying again next pass", held.job_id)
            held.ready_outcome = outcome
            done.busy += 1
            return
        if spec is not None:
            done.launches.append((held, spec))
            done.busy += 1

    def _put_back(self, done: _Pass) -> None:
        """The pass's transaction failed: nothing it wrote counts. Keep every outcome to record it again,
        forget the claims (the database still has those jobs unclaimed), re-queue the pids."""
        state = self.state
        for finished in done.finished:
            # Its plan moved on in memory with what was not written: the walker takes the job from the rows.
            finished.held.plan = None
            if finished.held.job_id in state.held:
                finished.held.handle = finished.handle
                finished.held.ready_outcome = finished.outcome
        for held in done.claimed:
            state.forget_held(held.job_id)
        state.put_back_started_pids(done.pids)
        for path, text in done.lasting.items():
            state.put_back_held(path, text)


# How long a running op's held-back lines (a call op's "started") wait for its end before they are shipped.
HELD_BACK_S = 1.0


def _drop_held_back(state: EngineState, paths: list[str]) -> None:
    for path in paths:
        state.drop_held_back(path)


def _busy(state: EngineState, ended: set[int]) -> int:
    """The held jobs with an op running or waiting for a slot, those in `ended` aside."""
    return sum(
        1
        for h in state.held.values()
        if h.handle is not None and h.ready_outcome is None and h.job_id not in ended
    )


def log_sources(helds: Iterable[Held]) -> list[logship.Source]:
    """The logs of the jobs held: the path the op was launched with (a re-adopted op's, from its handle).
    A job whose op waits for a slot has written nothing since its last op's end was shipped: no path, so
    no stat (the job is still given: the shipper keeps how far it went)."""
    found = []
    for held in helds:
        if isinstance(held.handle, SlotHandle) and held.handle.queued:
            found.append(logship.Source(held.job_id, "", None))
            continue
        path = held.log_path or getattr(held.handle, "log_path", "") or ""
        found.append(logship.Source(held.job_id, path, held.log_cap))
    return found
