"""The engine: claims due jobs for its worker slots, walks their pipelines, supervises their ops, and
sweeps for expiry, trap timeouts and lost workers. One `tick` is one pass; the daemon loops over it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pendulum
import psutil
from sqlalchemy import Boolean, Text, TextClause, bindparam, column, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from jobtui.engine.db.models import TASKS, AuditEvent, Job, OpRun, Task, UTCDateTime, Worker
from jobtui.engine.db.store import LeaseLost, Store
from jobtui.engine.domain.definitions import OpDef
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.states import ROLLBACK_STEP, OpStatus, Status, Step, TaskStatus
from jobtui.engine.worker import lifecycle, pipeline
from jobtui.engine.worker.pipeline import JobRef
from jobtui.engine.worker.runner import (
    CallHandle,
    OpContext,
    OpHandle,
    OpOutcome,
    ProcessHandle,
    group_alive,
    read_status_file,
)
from jobtui.engine.worker.traps import resolve_trap

log = logging.getLogger("jobtui.engine")

# What a PRE op may add through $JOBTUI_NATURES_FILE: names, one per line.
NATURE_NAME = re.compile(r"[\w.+#/ -]{1,64}")
MAX_NATURES = 64
NATURES_READ_BYTES = 64 * 1024


@dataclass
class Held:
    """A job this engine has claimed, and the op it is running for it, if any."""

    job_id: int
    lease: str
    handle: OpHandle | None = None
    op_run_id: int | None = None
    deadline: datetime | None = None
    timeout_s: float | None = None
    timed_out: bool = False
    ready_outcome: OpOutcome | None = None
    title: str = ""


@dataclass
class Dying:
    handle: OpHandle
    since: pendulum.DateTime
    killed: bool = False


@dataclass
class LaunchSpec:
    op_run_id: int
    argv: list[str] | None
    call: str | None
    env: dict[str, str]
    context: OpContext
    status_file: str
    timeout_s: float | None
    title: str = field(default="")


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
    ) -> None:
        self.store = store
        self.slots = max(1, workers)
        self.host = host or socket.gethostname()
        self.worker_id = uuid.uuid4().hex
        self.who = f"engine@{self.host}"
        self.heartbeat_s = heartbeat_s
        self.lease_s = lease_s
        self.kill_grace_s = kill_grace_s
        self.idle_poll_s = idle_poll_s
        self.draining = False
        self._held: dict[int, Held] = {}
        self._dying: list[Dying] = []
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="jobtui-call")
        self._last_heartbeat: pendulum.DateTime | None = None
        self._last_sweep: pendulum.DateTime | None = None
        self.sweep_s = 1.0
        self._claims = itertools.count(1)
        self._next_due: datetime | None = None
        self._registered = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def register(self) -> None:
        if self._registered:
            return
        now = self.store.now()
        with self.store.write() as s:
            s.add(
                Worker(
                    id=self.worker_id,
                    host=self.host,
                    pid=os.getpid(),
                    slots=self.slots,
                    pid_create_time=psutil.Process().create_time(),
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        self._last_heartbeat = now
        self._registered = True

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, drain: threading.Event | None = None) -> None:
        """Loop until `stop`; when `drain` is set first, finish the ops in flight and hand jobs back.

        The worker row is registered by the first pass that reaches the database, so a daemon started
        while the database is down waits for it like one that lost it later."""
        # Jobs submitted or released on other hosts wake an idle engine at once (PostgreSQL).
        listener = self.store.listen(self.wake, work_only=True)
        try:
            self._loop(stop, drain)
        finally:
            listener.stop()
        self.shutdown()

    def _loop(self, stop: threading.Event, drain: threading.Event | None) -> None:
        failures = 0
        while not stop.is_set():
            if drain is not None and drain.is_set():
                self.draining = True
                if not any(h.handle for h in self._held.values()):
                    break
            # Clear before the pass, so an op that ends during it still wakes the next one.
            self._wake.clear()
            busy = False
            try:
                busy = self.tick()
                failures = 0
            except DBAPIError as exc:  # unreachable or restarting database: back off, keep the ops going
                failures += 1
                delay = min(0.5 * 2 ** (failures - 1), 15.0)
                what = "database error" if self.store.is_sqlite else "database unreachable"
                log.warning("%s (%s); retrying in %.1fs", what, exc.orig, delay)
                self._wake.wait(delay)
                continue
            except Exception:  # the daemon must outlive one bad pass (a lost file, a bug in one job)
                log.exception("engine pass failed; retrying")
            if not busy:
                self._wake.wait(self._idle_wait())

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
        """Hand back the jobs held between ops; ops still running keep running for a later engine."""
        for held in list(self._held.values()):
            if held.handle is not None:
                continue
            with contextlib.suppress(LeaseLost), self.store.write() as s:
                job = s.get(Job, held.job_id)
                if job is not None and job.lease == held.lease:
                    to = Status.READY if job.status == Status.RUNNING else Status(job.status)
                    self.store.change_job(
                        s,
                        job,
                        self.who,
                        "release",
                        to,
                        comment="engine stopped",
                        held=held.lease,
                        worker_id=None,
                        lease=None,
                        due_at=self.store.now(),
                    )
            self._held.pop(held.job_id, None)
        if self._registered:
            with self.store.write() as s:
                worker = s.get(Worker, self.worker_id)
                if worker is not None and not any(h.handle for h in self._held.values()):
                    worker.stopped_at = self.store.now()
                    s.add(worker)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def mark_stopped(self) -> None:
        """Mark this engine's worker row stopped even with ops in flight: its process is leaving (a
        dashboard closing), so nobody may take it for a live daemon, and the next engine re-adopts its
        ops instead of waiting for its heartbeat to go stale."""
        if not self._registered:
            return
        with self.store.write() as s:
            worker = s.get(Worker, self.worker_id)
            if worker is not None and worker.stopped_at is None:
                worker.stopped_at = self.store.now()
                s.add(worker)

    @property
    def busy(self) -> int:
        return len(self._held)

    # -- one pass -----------------------------------------------------------------------------------

    def tick(self) -> bool:
        """One pass; True when it claimed a job, so the loop should come straight back for more."""
        self.register()
        now = self.store.now()
        self._heartbeat(now)
        if self._last_sweep is None or (now - self._last_sweep).total_seconds() >= self.sweep_s:
            # Deadlines are whole seconds to an operator; sweeping once a clock-second keeps the
            # loop's database work proportional to the jobs that move, not to how often it wakes.
            self._last_sweep = now
            with self.store.sweeping() as mine:
                if mine:
                    self._sweep_expired(now)
                    lifecycle.sweep_expired_schedules(self.store, self.who, now)
                    self._sweep_trap_timeouts(now)
                    self._sweep_lost_workers(now)
        self._check_leases()
        self._collect(now)
        self._escalate_kills(now)
        claimed = 0 if self.draining else self._claim(now)
        for held in list(self._held.values()):
            if held.ready_outcome is not None and held.job_id in self._held:
                self._complete(held, held.ready_outcome)  # an outcome a failed write could not record
            elif held.handle is None and held.job_id in self._held:
                self._advance(held)
        return claimed > 0

    def _heartbeat(self, now: pendulum.DateTime) -> None:
        if self._last_heartbeat and (now - self._last_heartbeat).total_seconds() < self.heartbeat_s:
            return
        with self.store.write(walking=True) as s:
            s.execute(
                _timed(text("UPDATE workers SET heartbeat_at = :now WHERE id = :id"), "now"),
                {"now": now, "id": self.worker_id},
            )
        self._last_heartbeat = now

    def _sweep_expired(self, now: pendulum.DateTime) -> None:
        with self.store.read() as s:
            ids = s.exec(
                select(Job.id).where(
                    text(UNSTARTED),  # a literal, as the partial index it walks (migration 0005)
                    col(Job.step).in_([Step.INIT.value, Step.PRE.value, Step.RUN.value]),
                    col(Job.run_started_at).is_(None),
                    col(Job.max_start_at) < now,
                )
            ).all()
        for job_id in ids:
            with self.store.write() as s:
                job = self.store.lock_job(s, job_id)
                if job is None or job.status not in (Status.READY, Status.APPROVAL) or job.run_started_at:
                    continue
                when = pendulum.instance(job.max_start_at).isoformat() if job.max_start_at else "?"
                pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)
                self.store.change_job(
                    s,
                    job,
                    self.who,
                    "expire",
                    Status.EXPIRED,
                    comment=f"RUN had not started by Max Start Date {when}",
                    due_at=None,
                    reason="passed Max Start Date",
                )

    def _sweep_trap_timeouts(self, now: pendulum.DateTime) -> None:

        with self.store.read() as s:
            ids = s.exec(
                select(Job.id).where(
                    Job.status == Status.TRAPPED.value,
                    col(Job.trap_deadline_at).is_not(None),
                    col(Job.trap_deadline_at) <= now,
                )
            ).all()
        for job_id in ids:
            with self.store.write() as s:
                job = self.store.lock_job(s, job_id)
                if job is None or job.status != Status.TRAPPED or job.trap_deadline_at is None:
                    continue
                what = pipeline.definition_of(job).trap_timeout_action
                resolve_trap(self.store, s, job, what, self.who, "trap timeout ran out")

    def _sweep_lost_workers(self, now: pendulum.DateTime) -> None:
        with self.store.read() as s:
            rows = s.exec(
                select(Job.worker_id)
                .where(
                    col(Job.status).in_([Status.RUNNING.value, Status.ROLLBACK.value]),
                    col(Job.worker_id).is_not(None),
                    Job.worker_id != self.worker_id,
                )
                .distinct()
            ).all()
            if not rows:
                return
            workers = {w.id: w for w in s.exec(select(Worker).where(col(Worker.id).in_(rows)))}
        for worker_id in rows:
            assert worker_id is not None
            worker = workers.get(worker_id)
            lost = self._worker_lost(worker, now)
            if lost:
                reason, may_readopt = lost
                self._take_over_jobs_of(worker_id, reason, may_readopt)

    def _worker_lost(self, worker: Worker | None, now: pendulum.DateTime) -> tuple[str, bool] | None:
        """Why the worker no longer owns its jobs, and whether its ops may be re-adopted: only when the
        worker process is known to be gone. A worker that merely stopped heartbeating (paused, cut off)
        may come back, so its jobs ABEND and it finds its lease gone."""
        if worker is None:
            return "worker unknown", True
        if worker.stopped_at is not None:
            return f"worker {worker.host} stopped", True
        if worker.host == self.host and not is_same_process(worker.pid, worker.pid_create_time):
            return f"worker {worker.host} (pid {worker.pid}) is gone", True
        if (
            worker.heartbeat_at
            and (now - pendulum.instance(worker.heartbeat_at)).total_seconds() > self.lease_s
        ):
            return f"worker {worker.host} lost", False
        return None

    def _take_over_jobs_of(self, worker_id: str, reason: str, may_readopt: bool = True) -> None:
        with self.store.read() as s:
            job_ids = s.exec(
                select(Job.id).where(
                    Job.worker_id == worker_id,
                    col(Job.status).in_([Status.RUNNING.value, Status.ROLLBACK.value]),
                )
            ).all()
        for job_id in job_ids:
            assert job_id is not None
            self._take_over(job_id, worker_id, reason, may_readopt)

    def _take_over(self, job_id: int, worker_id: str, reason: str, may_readopt: bool = True) -> None:
        lease = self._new_lease()
        with self.store.write() as s:
            job = self.store.lock_job(s, job_id)
            if job is None or job.worker_id != worker_id:
                return
            self.store.change_job(
                s,
                job,
                self.who,
                "take over",
                comment=reason,
                held=job.lease,
                worker_id=self.worker_id,
                lease=lease,
            )
            running = s.exec(
                select(OpRun).where(OpRun.job_id == job_id, OpRun.status == OpStatus.RUNNING.value)
            ).first()
            held = Held(job_id, lease)
            ref = JobRef(self.who, lease)
            if running is not None and not may_readopt:
                self._held[job_id] = held  # _abend lets go of it again
                self._abend(s, job, running, ref, reason)
                return
            if running is not None:
                handle = None
                if running.pid and running.host == self.host:
                    handle = ProcessHandle.adopt(
                        running.pid, running.pid_create_time or 0.0, running.status_file or "", self.wake
                    )
                if handle is not None:
                    held.handle, held.op_run_id = handle, running.id
                    held.deadline = running.deadline_at
                    self._log(job, f"re-adopted op {running.name} (pid {running.pid}) after {reason}")
                else:
                    code = read_status_file(running.status_file) if running.host == self.host else None
                    if code is None:
                        self._abend(s, job, running, ref, f"{reason}; op {running.name} vanished with it")
                        return
                    held.op_run_id = running.id
                    held.ready_outcome = OpOutcome(code, None if code == 0 else f"exit {code}")
            self._held[job_id] = held
        if held.ready_outcome is not None:
            self._complete(held, held.ready_outcome)

    def _check_leases(self) -> None:
        if not self._held:
            return
        with self.store.read() as s:
            rows = s.exec(select(Job.id, Job.lease).where(col(Job.id).in_(list(self._held)))).all()
        current = dict(rows)
        for job_id, held in list(self._held.items()):
            if current.get(job_id) != held.lease:
                self._drop(held, "lease lost")

    def _drop(self, held: Held, why: str) -> None:
        """Stop touching a job we no longer own (cancelled, deleted, taken over); kill its op."""
        self._held.pop(held.job_id, None)
        if held.handle is not None:
            log.info("job %s: %s; terminating its op", held.job_id, why)
            self._terminate_tree(held.handle)

    def _terminate_tree(self, handle: OpHandle) -> None:
        """SIGTERM to the op's group now, SIGKILL after the grace period to whatever ignored it."""
        if handle.poll() is None or (handle.pid is not None and group_alive(handle.pid)):
            handle.terminate()
            self._dying.append(Dying(handle, self.store.now()))

    def _escalate_kills(self, now: pendulum.DateTime) -> None:
        for dying in list(self._dying):
            if (now - dying.since).total_seconds() >= self.kill_grace_s:
                dying.handle.kill()
                self._dying.remove(dying)
            elif (
                dying.handle.poll() is not None
                and dying.handle.pid is not None
                and not group_alive(dying.handle.pid)
            ):
                self._dying.remove(dying)

    def _collect(self, now: pendulum.DateTime) -> None:
        for held in list(self._held.values()):
            if held.handle is None:
                continue
            outcome = held.handle.poll()
            if outcome is None:
                if held.deadline is not None and now >= held.deadline and not held.timed_out:
                    held.timed_out = True
                    self._terminate_tree(held.handle)
                continue
            if held.timed_out:
                limit = held.timeout_s or 0
                outcome = OpOutcome(
                    outcome.exit_code if outcome.exit_code is not None else 124,
                    f"timed out after {_fmt_seconds(limit)}",
                )
            self._complete(held, outcome)

    def _claim(self, now: pendulum.DateTime) -> int:
        self._next_due = None  # nothing to wake for while every slot is busy or the queue is paused
        free = self.slots - len(self._held)
        if free <= 0:
            return 0
        with self.store.read() as s:
            # Look before taking the write lock: an idle engine must not queue behind busy ones. One
            # statement, as every daemon looks whenever any transaction on the queue commits.
            paused, next_due, rollbacks = s.execute(_LOOK).one()
            if paused is not None and json.loads(paused):
                return 0
            self._next_due = _as_utc(next_due)
            if not (rollbacks or (self._next_due is not None and self._next_due <= now)):
                return 0
        lease = self._new_lease()
        with self.store.write(walking=True) as s:
            if pipeline.queue_paused(self.store, s):
                return 0
            claimed = self._claim_rows(s, now, free, lease, bool(rollbacks))
            for job_id, name, src, status in claimed:
                s.add(
                    AuditEvent(
                        job_id=job_id,
                        job_name=name,
                        at=now,
                        who=self.who,
                        action="claim",
                        from_status=src,
                        to_status=status,
                        comment=f"worker {self.worker_id[:8]}",
                    )
                )
                self.store.touch(s, job_id)
        ids = [job_id for job_id, _, _, _ in claimed]
        for job_id in ids:
            self._held[job_id] = Held(job_id, lease)
        return len(ids)

    def _claim_rows(
        self, s: Session, now: pendulum.DateTime, limit: int, lease: str, rollbacks: bool
    ) -> list[tuple[int, str, str, str]]:
        """(id, name, status before, status after) of the jobs claimed; no job is ever claimed twice.

        Rollbacks left without an engine first, then due jobs in due order: each its own statement, so
        each walks its own index instead of sorting the whole queue at every claim.
        """
        claimed: list[tuple[int, str, str, str]] = []
        for where, order in ((_ORPHAN_ROLLBACK, "id"), (_DUE_TO_RUN, "due_at, id")):
            if where is _ORPHAN_ROLLBACK and not rollbacks:
                continue
            want = limit - len(claimed)
            if want <= 0:
                break
            claimed += self._claim_where(s, where, order, now, want, lease)
        return claimed

    def _claim_where(
        self, s: Session, where: str, order: str, now: pendulum.DateTime, limit: int, lease: str
    ) -> list[tuple[int, str, str, str]]:
        params = {"now": now, "w": self.worker_id, "lease": lease, "n": limit}
        take = (
            "UPDATE jobs SET status = CASE WHEN {was} = 'ROLLBACK' THEN {was} ELSE 'RUNNING' END, "
            "worker_id = :w, lease = :lease, due_at = NULL, status_since = :now "
        )
        if not self.store.is_sqlite:
            # One statement: the rows are locked as they are picked, and engines on other hosts skip them.
            rows = s.execute(
                _timed(
                    text(
                        f"WITH due AS (SELECT id, status FROM jobs WHERE {where} ORDER BY {order} "
                        "LIMIT :n FOR UPDATE SKIP LOCKED) "
                        + take.format(was="due.status")
                        + "FROM due WHERE jobs.id = due.id "
                        "RETURNING jobs.id, jobs.name, due.status, jobs.status"
                    ),
                    "now",
                ),
                params,
            ).all()
            return sorted((int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows)
        # SQLite cannot return the FROM table's columns; this transaction holds the only write lock, so
        # looking first and updating after is just as safe.
        due = s.execute(
            _timed(
                text(f"SELECT id, name, status FROM jobs WHERE {where} ORDER BY {order} LIMIT :n"),
                *(["now"] if ":now" in where else []),
            ),
            params,
        ).all()
        if not due:
            return []
        s.execute(
            _timed(
                text(take.format(was="status") + "WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                "now",
            ),
            {**params, "ids": [int(r[0]) for r in due]},
        )
        claimed = []
        for job_id, name, was in sorted(due):
            after = was if was == Status.ROLLBACK.value else Status.RUNNING.value
            claimed.append((int(job_id), str(name), str(was), after))
        return claimed

    def _new_lease(self) -> str:
        return f"{self.worker_id}:{next(self._claims)}"

    # -- walking a held job ---------------------------------------------------------------------------

    def _advance(self, held: Held) -> None:
        """Move a held job on until it starts an op, waits, or ends."""
        while held.job_id in self._held and held.handle is None and not self.draining:
            try:
                with self.store.write(walking=True) as s:
                    job = s.get(Job, held.job_id)
                    if job is None or job.lease != held.lease:
                        self._held.pop(held.job_id, None)
                        return
                    spec = self._walk(s, job, held)
            except LeaseLost:
                self._held.pop(held.job_id, None)
                return
            if spec is None:
                return
            self._launch(held, spec)

    def _walk(self, s: Session, job: Job, held: Held) -> LaunchSpec | None:
        """Inside a transaction: mark the next op started and say how to launch it, or let go."""
        ref = JobRef(self.who, held.lease)
        op_run = self._next_op(s, job, ref)
        if op_run is None:
            self._let_go_at_commit(s, held.job_id)
            return None
        pipeline.mark_op_started(self.store, s, job, op_run, ref)
        return self._launch_spec(s, job, op_run)

    def _next_op(self, s: Session, job: Job, ref: JobRef) -> OpRun | None:
        """The pipeline walker: the next op to start, or None once the job was released or ended."""
        now = self.store.now()
        while True:
            if job.status == Status.ROLLBACK:
                op_run = pipeline.next_pending(s, job, ROLLBACK_STEP)
                if op_run is not None:
                    return op_run
                failed = job.outcome == Status.ERROR.value
                if job.step == Step.END:  # a manual rollback of an ended job
                    pipeline.finish_job(
                        self.store,
                        s,
                        job,
                        ref,
                        Status.ERROR if failed else Status.ROLLEDBACK,
                        comment="rollback failed" if failed else "rollback completed",
                    )
                    return None
                self.store.change_job(
                    s,
                    job,
                    self.who,
                    "rollback done",
                    Status.RUNNING,
                    held=ref.lease,
                    step=Step.POST.value,
                    outcome=Status.ERROR.value if failed else Status.ROLLEDBACK.value,
                )
                continue
            step = Step(job.step)
            if step == Step.INIT or (step == Step.PRE and job.started_at is None):
                # Start Date is the real start of PRE.
                self.store.change_job(
                    s,
                    job,
                    self.who,
                    "step",
                    held=ref.lease,
                    step=Step.PRE.value,
                    started_at=job.started_at or now,
                )
                step = Step.PRE
            if step == Step.RUN and job.run_started_at is None and not job.failed:
                gate = self._run_gate(s, job, ref, now)
                if gate is not None:
                    return None
            if step == Step.END:
                self.store.change_job(s, job, self.who, "release", held=ref.lease, worker_id=None, lease=None)
                return None
            schedule = lifecycle.schedule_of(job) if step in (Step.PRE, Step.RUN) else None
            if schedule is not None:
                if schedule.retries:
                    lifecycle.revive_due_tasks(s, job, now)
                if not lifecycle.window_gate(self.store, s, job, ref, now):
                    if job.worker_id is None:
                        return None
                    continue  # expired: on to POST
            op_run = pipeline.next_pending(s, job, step.value)
            if schedule is not None and schedule.retries and (op_run is None or not op_run.per_target):
                # A job-wide op, or the next step, waits until every rescheduled task had its retries.
                waiting = lifecycle.waiting_tasks(s, job)
                if waiting:
                    lifecycle.wait_for_retry(self.store, s, job, ref, min(waiting))
                    return None
            if op_run is not None:
                return op_run
            if step == Step.POST:
                tasks = pipeline.tasks_of(s, job.id or 0)
                end = pipeline.end_status_from_tasks(s, job, tasks)
                pipeline.finish_job(self.store, s, job, ref, end, tasks=tasks)
                return None
            following = Step.POST if step == Step.RUN or job.failed else Step.RUN
            self.store.change_job(s, job, self.who, "step", held=ref.lease, step=following.value)

    def _run_gate(self, s: Session, job: Job, ref: JobRef, now: pendulum.DateTime) -> Status | None:
        """Before RUN starts: approval, Max Start Date, the scheduled date. Returns where the job parked."""
        release = {"held": ref.lease, "worker_id": None, "lease": None}
        if (
            (pipeline.definition_of(job).approval and not job.approved)
            or (job.max_start_at is not None and now > job.max_start_at)
            or (job.scheduled_at is not None and job.scheduled_at > now)
        ):
            pipeline.park_running_tasks(s, job)
        if pipeline.definition_of(job).approval and not job.approved:
            self.store.change_job(
                s,
                job,
                self.who,
                "await approval",
                Status.APPROVAL,
                comment="RUN needs approval",
                due_at=None,
                **release,
            )
            return Status.APPROVAL
        if job.max_start_at is not None and now > job.max_start_at:
            self.store.change_job(
                s,
                job,
                self.who,
                "expire",
                Status.EXPIRED,
                comment="RUN had not started by Max Start Date",
                due_at=None,
                reason="passed Max Start Date",
                **release,
            )
            return Status.EXPIRED
        if job.scheduled_at is not None and job.scheduled_at > now:
            self.store.change_job(
                s,
                job,
                self.who,
                "wait for schedule",
                Status.READY,
                comment="RUN waits for its scheduled date",
                due_at=job.scheduled_at,
                **release,
            )
            return Status.READY
        self.store.change_job(s, job, self.who, "step", held=ref.lease, run_started_at=now)
        return None

    def _launch_spec(self, s: Session, job: Job, op_run: OpRun) -> LaunchSpec:
        assert job.id is not None and op_run.id is not None
        target = ""
        if op_run.task_id is not None:
            task = s.get(Task, op_run.task_id)
            target = task.target if task else ""
        natures_file = str(self.store.log_dir / f"job-{job.id}.natures")
        env = dict(os.environ)
        env.update(
            JOBTUI_JOB_ID=str(job.id),
            JOBTUI_JOB_NAME=job.name,
            JOBTUI_STEP=op_run.step,
            JOBTUI_TARGET=target,
            JOBTUI_EXEC=str(job.exec),
            JOBTUI_NATURES_FILE=natures_file,
        )
        op = self._op_def(job, op_run)
        argv: list[str] | None = None
        call: str | None = None
        timeout_s: float | None = None
        if op_run.step == ROLLBACK_STEP:
            argv = ["/bin/sh", "-c", op_run.rollback or "true"]
        else:
            assert op is not None
            env.update(dict(op.env))
            timeout_s = op.timeout_s or None
            if op.call:
                call = op.call
            elif op.argv:
                argv = list(op.argv)
            else:
                argv = ["/bin/sh", "-c", op.run or "true"]
        context = OpContext(job.id, job.name, op_run.step, target, job.exec, natures_file, env, job.log_path)
        title = f"{op_run.step} {op_run.name}" + (f" [{target}]" if target else "")
        status_file = str(self.store.log_dir / f"job-{job.id}.op-{op_run.id}.rc")
        return LaunchSpec(op_run.id, argv, call, env, context, status_file, timeout_s, title)

    @staticmethod
    def _op_def(job: Job, op_run: OpRun) -> OpDef | None:
        if op_run.step == ROLLBACK_STEP:
            return None
        ops = pipeline.definition_of(job).ops(op_run.step)
        return ops[op_run.op_index] if op_run.op_index < len(ops) else None

    def _launch(self, held: Held, spec: LaunchSpec) -> None:
        now = self.store.now()
        self._append_log(spec.context.log_path, f"{spec.title}: started")
        held.op_run_id = spec.op_run_id
        held.title = spec.title
        held.timeout_s = spec.timeout_s
        held.deadline = now.add(seconds=spec.timeout_s) if spec.timeout_s else None
        held.timed_out = False
        try:
            if spec.call is not None:
                held.handle = CallHandle.start(self._pool, spec.call, spec.context, self.wake)
                return
            assert spec.argv is not None
            handle = ProcessHandle.start(
                spec.argv, spec.env, spec.context.log_path, spec.status_file, None, self.wake
            )
        except OSError as exc:
            self._complete(held, OpOutcome(127, f"cannot start op: {exc}"))
            return
        held.handle = handle
        try:
            with self.store.write(walking=True) as s:
                s.execute(
                    _timed(
                        text(
                            "UPDATE op_runs SET pid = :pid, pid_create_time = :ct, host = :host, "
                            "status_file = :sf, deadline_at = :dl WHERE id = :id"
                        ),
                        "dl",
                    ),
                    {
                        "pid": handle.pid,
                        "ct": handle.create_time,
                        "host": self.host,
                        "sf": spec.status_file,
                        "dl": held.deadline,
                        "id": spec.op_run_id,
                    },
                )
        except Exception:
            log.exception("could not record pid of op run %s", spec.op_run_id)

    def _complete(self, held: Held, outcome: OpOutcome) -> None:
        """Record how an op ended and decide the job's next move (trap, failure, rollback, next op)."""
        handle, held.handle = held.handle, None
        held.ready_outcome = None
        spec: LaunchSpec | None = None
        try:
            with self.store.write(walking=True) as s:
                job = s.get(Job, held.job_id)
                op_run = s.get(OpRun, held.op_run_id) if held.op_run_id else None
                if job is None or job.lease != held.lease or op_run is None:
                    self._held.pop(held.job_id, None)
                    return
                ref = JobRef(self.who, held.lease)
                title = held.title or f"{op_run.step} {op_run.name}"
                self._append_log(job.log_path, f"{title}: {outcome.error or 'done'}")
                if outcome.vanished:
                    self._abend(s, job, op_run, ref, outcome.error or "op vanished")
                    return
                now = self.store.now()
                op_run.exit_code = outcome.exit_code
                op_run.completed_at = now
                op_run.error = outcome.error
                op_run.status = OpStatus.DONE.value if outcome.ok else OpStatus.FAILED.value
                s.add(op_run)
                if outcome.ok:
                    self._after_success(s, job, op_run, ref)
                else:
                    self._after_failure(s, job, op_run, ref)
                still_held = job.lease == held.lease  # not when trapped: handed back to an operator
                pipeline.refresh_progress(
                    self.store, s, job, ref if still_held else JobRef(self.who), task_id=op_run.task_id
                )
                if not still_held:
                    self._let_go_at_commit(s, held.job_id)
                elif not self.draining:
                    # Start the next op in the same transaction: one commit per op, not two.
                    spec = self._walk(s, job, held)
        except LeaseLost:
            self._held.pop(held.job_id, None)
            return
        except Exception:
            # Nothing was recorded: keep the outcome, or the next pass would find no pending op and walk
            # on as if the op had succeeded. It is recorded on the next pass once the database answers.
            held.handle = handle
            held.ready_outcome = outcome
            raise
        finally:
            del handle
        if spec is not None:
            self._launch(held, spec)

    def _after_success(self, s: Session, job: Job, op_run: OpRun, ref: JobRef) -> None:
        if op_run.step == ROLLBACK_STEP and op_run.rollback_of:
            original = s.get(OpRun, op_run.rollback_of)
            if original is not None:
                original.rolled_back = True
                s.add(original)
        if op_run.step == Step.PRE:
            self._collect_natures(s, job, ref)

    def _after_failure(self, s: Session, job: Job, op_run: OpRun, ref: JobRef) -> None:
        op = self._op_def(job, op_run)
        on_error = op.on_error if op is not None else "fail"
        if on_error == "ignore":
            return
        if on_error == "trap":
            definition = pipeline.definition_of(job)
            deadline = (
                self.store.now().add(seconds=definition.trap_timeout_s)
                if definition.trap_timeout_s > 0
                else None
            )
            self.store.change_job(
                s,
                job,
                self.who,
                "trap",
                Status.TRAPPED,
                comment=f'{op_run.step} op "{op_run.name}" failed: {op_run.error}',
                held=ref.lease,
                trap_op_run_id=op_run.id,
                trap_deadline_at=deadline,
                trap_left_s=None,
                worker_id=None,
                lease=None,
            )
            return
        if lifecycle.reschedule_failed(self.store, s, job, op_run, ref):
            return
        pipeline.apply_op_failure(self.store, s, job, op_run, ref)

    def _collect_natures(self, s: Session, job: Job, ref: JobRef) -> None:
        path = self.store.log_dir / f"job-{job.id}.natures"
        try:
            # A nature is a short name; whatever else an op sent there by mistake is left out, and
            # never read whole inside the write transaction.
            with path.open("rb") as fh:
                head = fh.read(NATURES_READ_BYTES)
        except OSError:
            return
        lines = (ln.strip() for ln in head.decode("utf-8", errors="replace").splitlines())
        natures = list(json.loads(job.natures))
        room = max(0, MAX_NATURES - len(natures))
        named = (ln for ln in dict.fromkeys(lines) if NATURE_NAME.fullmatch(ln) and ln not in natures)
        added = list(itertools.islice(named, room))
        if added:
            self.store.change_job(
                s, job, self.who, "natures", held=ref.lease, natures=json.dumps(natures + added)
            )

    def _abend(self, s: Session, job: Job, op_run: OpRun, ref: JobRef, reason: str) -> None:
        now = self.store.now()
        op_run.status = OpStatus.FAILED.value
        op_run.completed_at = now
        op_run.error = reason
        s.add(op_run)
        # What the vanished wrapper left behind (its children, in its process group) must not run on
        # unsupervised; nothing else of the job runs after an abend.
        if op_run.pid and op_run.host == self.host:
            orphan = ProcessHandle(op_run.pid, op_run.pid_create_time or 0.0, op_run.status_file or "", None)
            self._terminate_tree(orphan)
        pipeline.skip_pending(s, job, (Step.PRE.value, Step.RUN.value, Step.POST.value, ROLLBACK_STEP), now)
        s.execute(
            update(TASKS)
            .where(
                TASKS.c.job_id == job.id,
                TASKS.c.status.not_in([TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value]),
            )
            .values(status=TaskStatus.FAILED.value, current_step=None)
        )
        self.store.change_job(
            s,
            job,
            self.who,
            "abend",
            Status.ABEND,
            comment=reason,
            held=ref.lease,
            reason=reason,
            ended_at=now,
            worker_id=None,
            lease=None,
            due_at=None,
            failed_step=op_run.step if op_run.step != ROLLBACK_STEP else job.step,
        )
        pipeline.refresh_progress(self.store, s, job, JobRef(self.who))
        pipeline.pause_queue_if_configured(self.store, s, job)
        self._let_go_at_commit(s, job.id or 0)

    def _let_go_at_commit(self, s: Session, job_id: int) -> None:
        """Stop holding a job once the transaction that hands it on commits: if the commit fails,
        nothing was recorded and the engine must still hold the job, to record it again."""
        self.store.after_commit(s, lambda: self._held.pop(job_id, None))

    # -- logs -----------------------------------------------------------------------------------------

    def _log(self, job: Job, line: str) -> None:
        self._append_log(job.log_path, line)

    def _append_log(self, path: str, line: str) -> None:
        if not path:
            return
        stamp = self.store.now().format("YYYY-MM-DD HH:mm:ss")
        with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as fh:
            fh.write(f"[jobtui {stamp}] {line}\n")


def _timed(statement: TextClause, *names: str) -> TextClause:
    """Bind times in raw SQL exactly as the UTCDateTime columns store them (SQLite compares text)."""
    return statement.bindparams(*(bindparam(name, type_=UTCDateTime()) for name in names))


UNSTARTED = "jobs.status IN ('READY', 'APPROVAL')"

# What an engine claims. The status lists are literals, matching the partial indexes (migration 0005)
# that keep a claim's cost independent of how long the queue is.
_DUE_TO_RUN = "status IN ('READY', 'PAUSED') AND due_at <= :now"
_ORPHAN_ROLLBACK = "status = 'ROLLBACK' AND worker_id IS NULL"

# Whether the queue is paused, when the next job falls due, whether a rollback waits for an engine.
_LOOK = text(
    "SELECT (SELECT value FROM settings WHERE key = 'queue_paused'), "
    "(SELECT min(due_at) FROM jobs WHERE status IN ('READY', 'PAUSED')), "
    f"EXISTS (SELECT 1 FROM jobs WHERE {_ORPHAN_ROLLBACK})"
).columns(column("paused", Text()), column("next_due", UTCDateTime()), column("rollbacks", Boolean()))


def _as_utc(value: datetime | None) -> pendulum.DateTime | None:
    return None if value is None else pendulum.instance(value).in_timezone("UTC")


def _fmt_seconds(seconds: float) -> str:
    from jobtui.engine.domain.timeparse import format_duration

    return format_duration(seconds)


def log_path_for(store: Store, job_id: int) -> Path:
    return store.log_dir / f"job-{job_id}.log"
