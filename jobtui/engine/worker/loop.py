"""The engine: claims due jobs for its worker slots, walks their pipelines, supervises their ops, and
sweeps for expiry, trap timeouts and lost workers. One `tick` is one pass; the daemon loops over it.

`Engine` only coordinates; each part lives in its own module: `batch` (one pass's writes in one
transaction), `fastlane` (plain jobs walked with their plan in memory), `claims` (claiming and handing
back jobs), `sweeps` (periodic sweeps, lost workers), `walker` (the next op of a job, by the rules),
`launcher` (what an op runs with), `slots` (the threads that start queued ops and wait for them),
`outcomes` (recording how an op ended), `supervision` (ops in flight), `logship` (logs into the
database), `registration` (the worker row) and `state` (what they share).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pendulum
from sqlalchemy.exc import DBAPIError

from jobtui.engine.db.store import DATABASE_ERRORS, Store
from jobtui.engine.domain.reachability import backoff_after
from jobtui.engine.domain.text import counted
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.worker import claims, interpreter, registration
from jobtui.engine.worker.batch import Batch
from jobtui.engine.worker.claims import Claimer
from jobtui.engine.worker.outcomes import Outcomes
from jobtui.engine.worker.slots import SlotHandle, Slots
from jobtui.engine.worker.state import Dying, EngineState, Held, LaunchSpec
from jobtui.engine.worker.supervision import Supervisor
from jobtui.engine.worker.sweeps import Sweeps

# How long a pass may wait for more ops to end while every slot has its next op queued (Slots.well_fed).
# Alternated (2026-12-05 13:02), 10 → 30 ms: `true` engine thread 0.33 → 0.28–0.29 ms a job, 1,141–1,157 →
# 1,195–1,199 jobs/s; no-op drains the same or better; lateness of 1,000 jobs p99 0.24–0.30 → 0.20 s.
GATHER_S = 0.03

__all__ = ["Dying", "Engine", "Held", "LaunchSpec", "log_path_for"]

log = logging.getLogger("jobtui.engine")

# How long an engine leaving with ops in flight waits to mark its worker row stopped (behind another
# process's write lock; an unreachable PostgreSQL server gives up within its connect timeout).
LEAVING_WRITE_WAIT_S = 2.0


class Engine:
    def __init__(
        self,
        store: Store,
        workers: int = 2,
        host: str | None = None,
        heartbeat_s: float = 5.0,
        lease_s: float = 30.0,
        kill_grace_s: float = 5.0,
        idle_poll_s: float = 1.0,
        fast_lane: bool = True,
        kind: str | None = None,
    ) -> None:
        """`fast_lane=False` walks every job through the rule-rich path (`walker`, `outcomes`): both write
        the same rows, and the tests compare them. `kind`: what its worker row tells other dashboards it
        is ("daemon", or "dashboard": the engine of a dashboard, which stops when the dashboard closes)."""
        self.store = store
        self.slots = max(1, workers)
        self.host = host or socket.gethostname()
        self.worker_id = uuid.uuid4().hex
        self._state = EngineState(store, self.slots, self.host, self.worker_id, kind)
        self.who = self._state.who
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.kill_grace_s = kill_grace_s
        self.idle_poll_s = idle_poll_s
        self._held = self._state.held
        self._wake = self._state.wake_event
        self._slots = Slots(self.slots, self._state.wake, elapsed=store.clock.elapsed)
        self._supervisor = Supervisor(self._state)
        self._outcomes = Outcomes(self._state, self._supervisor, self._slots)
        self._claimer = Claimer(self._state)
        self._batch = Batch(self._state, self._outcomes, self._claimer, fast_lane)
        self._sweeps = Sweeps(self._state, self._outcomes)
        # When the last heartbeat was written, on the monotonic clock: a step of the wall clock back
        # must not silence the heartbeat (others would declare this engine lost), nor a step forward
        # make it look due.
        self._last_heartbeat: float | None = None
        self._last_sweep: pendulum.DateTime | None = None
        self.sweep_s = 1.0
        self._registered = False
        # How long the engine had been cut off from the database when its last pass reached it (None: it
        # was not).
        self.back_after_s: float | None = None

    @property
    def draining(self) -> bool:
        """Finishing the ops in flight: no new claims, no next op."""
        return self._state.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self._state.draining = value

    @property
    def _next_due(self) -> datetime | None:
        return self._claimer.next_due

    # -- lifecycle ----------------------------------------------------------------------------------

    def register(self) -> None:
        if self._registered:
            return
        # Before the worker row: once an engine of this host is heard from after a take-over, what the
        # dead one left running for jobs taken from it is signalled (retry and rerun wait for that).
        try:
            self._supervisor.kill_orphans()
        except DBAPIError:
            raise
        except Exception:  # a bug here must not keep the engine from running its jobs
            log.exception("could not look for ops left running by a dead engine of this host")
        registration.register(self._state)
        self._last_heartbeat = self.store.clock.elapsed()
        self._registered = True
        try:
            registration.prune_journals(self._state)
        except Exception as exc:  # kept for the next start: they are only disk
            log.warning("could not prune the status journals: %s", exc)

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, drain: threading.Event | None = None) -> None:
        """Loop until `stop`; when `drain` is set first, finish the ops in flight and hand jobs back.

        The worker row is registered by the first pass that reaches the database, so a daemon started
        while the database is down waits for it like one that lost it later."""
        interpreter.tune()
        # Jobs submitted or released on other hosts wake an idle engine at once (PostgreSQL).
        listener = self.store.listen(self.wake, work_only=True)
        try:
            self._loop(stop, drain)
        finally:
            listener.stop()
        self.shutdown()  # hands back what waits for a slot: what is left runs
        in_flight = self.ops_in_flight
        if in_flight:
            log.info(
                "stopping now: %s run on, for an engine of this host to re-adopt", counted(in_flight, "op")
            )
            self.leave()

    def leave(self) -> None:
        """This engine's process is leaving with ops in flight: mark its worker row stopped if it can, in one
        short write, so that nobody takes it for live and an engine of this host re-adopts its ops at once
        (else its heartbeat goes stale and its jobs are taken for lost)."""
        if not self._registered:
            return
        try:
            registration.mark_stopped(self._state, lock_wait_s=LEAVING_WRITE_WAIT_S)
        except Exception as exc:
            log.warning(
                "could not mark this engine's worker stopped (%s); its heartbeat goes stale instead", exc
            )

    def _loop(self, stop: threading.Event, drain: threading.Event | None) -> None:
        failures = 0
        out_since = 0.0
        while not stop.is_set():
            if drain is not None and drain.is_set():
                if not self.draining:  # said at once: the ops in flight may run for long yet
                    log.info("stopping: %s", self._stopping_text())
                    self._say_stopping()
                self.draining = True
                # Ops it is stopping for jobs it let go (a cancel) are seen gone first (within two grace
                # periods): their clean-up ships, and their job's trail says so ("kill op"), on which a
                # rerun of a job canceled from another host waits.
                if not any(h.handle for h in self._held.values()) and not self._supervisor.dying:
                    break
            # Clear before the pass, so an op that ends during it still wakes the next one.
            self._wake.clear()
            busy = False
            try:
                busy = self.tick()
                if failures:
                    lasted = self.back_after_s
                    if lasted is None:
                        lasted = self.store.clock.elapsed() - out_since
                    what = "usable" if self.store.is_sqlite else "reachable"
                    log.info("database %s again after %s; carrying on", what, format_duration(round(lasted)))
                failures = 0
            except DBAPIError as exc:  # unreachable or restarting database: back off, keep the ops going
                failures += 1
                if failures == 1:
                    out_since = self.store.clock.elapsed()
                delay = backoff_after(failures)
                what = "database error" if self.store.is_sqlite else "database unreachable"
                log.warning("%s (%s); retrying in %.1fs", what, exc.orig, delay)
                self._wake.wait(delay)
                continue
            except Exception:  # the daemon must outlive one bad pass (a lost file, a bug in one job)
                log.exception("engine pass failed; retrying")
            if self._slots.well_fed():
                # Group commit: no slot waits for the next pass, so it may come a little later and record
                # more ends and starts behind one commit (/bin/true: half the disk writes a job, 12% more
                # jobs a second). It comes at once when a slot is about to run out of ops.
                self._slots.wait_while_well_fed(GATHER_S)
            if not busy:
                self._wake.wait(self._idle_wait())

    def _say_stopping(self) -> None:
        """Its worker row says it is stopping: dashboards stop counting it as serving the queue (it claims
        nothing more) and run their own engine meanwhile, instead of reading it live while nothing moves."""
        try:
            registration.mark_stopping(self._state)
        except DATABASE_ERRORS as exc:  # the heartbeat goes on; the stop itself does not wait on this
            log.warning("could not mark this engine's worker stopping (%s)", exc)

    def _stopping_text(self) -> str:
        in_flight = self.ops_in_flight
        if not in_flight:
            return "no op in flight; handing the jobs back"
        return f"letting {counted(in_flight, 'op')} in flight finish, then handing the jobs back"

    def _idle_wait(self) -> float:
        """How long an idle pass may sleep: until the next poll, the next heartbeat, or the next job
        falling due, whichever is first (a scheduled job starts on time, not up to a poll late)."""
        wait = min(self.idle_poll_s, self.heartbeat_s)
        if self._next_due is not None:
            wait = min(wait, (self._next_due - self.store.now()).total_seconds())
        return max(wait, 0.0)

    def run_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Drive the engine until `predicate` holds, waking on op exits (for tests and the demo)."""
        self.register()
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            self.tick()
            if predicate():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the engine did not reach the expected state in time")
            self._wake.wait(0.05)

    def shutdown(self) -> None:
        """Hand back the jobs held between ops or waiting for a slot; ops still running keep running for a
        later engine."""
        self._slots.close()  # first: no queued op starts while it is handed back
        claims.hand_back(self._state)
        self._state.write_all_held_back()
        self._state.spawner.close()  # the ops they started keep running, each starter until its op ends
        if self._registered:
            registration.mark_stopped_unless_running(self._state)

    def mark_stopped(self, lock_wait_s: float | None = None) -> None:
        """Mark this engine's worker row stopped even with ops in flight: its process is leaving (a
        dashboard closing), so nobody may take it for a live daemon, and the next engine re-adopts its
        ops instead of waiting for its heartbeat to go stale. `lock_wait_s`: give up (DatabaseBusy) after
        so long behind another process's write lock."""
        if not self._registered:
            return
        registration.mark_stopped(self._state, lock_wait_s)

    @property
    def fast_lane_jobs(self) -> int:
        """How many jobs the fast lane took on since the engine started."""
        return self._batch.lane.jobs_taken

    @property
    def busy(self) -> int:
        return len(self._held)

    @property
    def ops_in_flight(self) -> int:
        """Ops this engine started (or queued for a slot) that have not ended yet."""
        return sum(1 for h in self._held.values() if h.handle)

    @property
    def ops_waiting(self) -> int:
        """Ops queued for a slot or being started: each still writes its first line to its job's log."""
        return sum(1 for h in self._held.values() if isinstance(h.handle, SlotHandle) and h.handle.queued)

    # -- one pass -----------------------------------------------------------------------------------

    def tick(self) -> bool:
        """One pass; True when it claimed a job, so the loop should come straight back for more.

        A pass that cannot reach the database counts for the sweeps: no other worker's silence is held
        against it for the time this engine was cut off itself."""
        self.back_after_s = None
        try:
            busy = self._pass()
        except DATABASE_ERRORS:
            self._sweeps.reach.failed()
            raise
        self._reached()
        return busy

    def _reached(self) -> None:
        """The pass reached the database (so far): the outage it was cut off for, if any, is over."""
        back = self._sweeps.reach.reached(self.store.clock.elapsed())
        if back is not None:
            self.back_after_s = back

    def _pass(self) -> bool:
        self.register()
        self._state.forget_environment()
        now = self.store.now()
        self._heartbeat(now)
        if self._last_sweep is None or (now - self._last_sweep).total_seconds() >= self.sweep_s:
            # Deadlines are whole seconds to an operator; sweeping once a clock-second keeps the
            # loop's database work proportional to the jobs that move, not to how often it wakes.
            self._last_sweep = now
            with self.store.sweeping() as mine:
                if mine:
                    self._reached()  # before the sweep judges any other worker's silence
                    self._sweeps.run(now, self.lease_s)
        # The leases are read by the pass (batch), after the collect: a job whose lease went is dropped
        # and its op terminated there, before anything of it is recorded.
        ended = self._supervisor.collect(now)
        self._supervisor.escalate_kills(now, self.kill_grace_s)
        return self._batch.run(now, ended)

    def _heartbeat(self, now: pendulum.DateTime) -> None:
        elapsed = self.store.clock.elapsed()
        if self._last_heartbeat is not None and elapsed - self._last_heartbeat < self.heartbeat_s:
            return
        registration.heartbeat(self._state, now)
        self._last_heartbeat = elapsed


def log_path_for(store: Store, job_id: int) -> Path:
    return Path(store.log_file(job_id))
