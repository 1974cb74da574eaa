"""Operator commands. Each one: load the job, ask the transition table and the policy, change the job,
audit it, all in one transaction — a refused or failed action leaves the database exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pendulum
from sqlalchemy import bindparam, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from jobtui.engine.db.models import (
    AUDIT,
    JOBS,
    LOG_CHUNKS,
    OP_RUNS,
    TASKS,
    WORKERS,
    AuditEvent,
    Envelope,
    Job,
    OpRun,
    Task,
    Worker,
)
from jobtui.engine.db.rows import bad_job_rows, check_job, job_status
from jobtui.engine.db.store import Store, act_for
from jobtui.engine.domain import reasons, schedules
from jobtui.engine.domain.definitions import Definition
from jobtui.engine.domain.envelopes import FAILED_JOB, STICKY, EnvelopeStatus
from jobtui.engine.domain.permissions import Actor, PermissionRefused
from jobtui.engine.domain.processes import is_same_process, is_stopped
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import (
    ACTIONS,
    FINAL_STATUSES,
    LIVE_STATUSES,
    ROLLBACK_JOB_TYPE,
    ROLLBACK_STEP,
    OpStatus,
    Perm,
    Status,
    Step,
    TaskStatus,
    display_action,
    refusal_for_status,
)
from jobtui.engine.domain.text import counted
from jobtui.engine.domain.timeparse import TimeParseError, parse_when
from jobtui.engine.errors import BadInput, BadValue, CorruptValue, Refusal
from jobtui.engine.read.engines import FRESH_HEARTBEAT_S
from jobtui.engine.service import local_ops
from jobtui.engine.service.local_ops import Signalled, terminate_local
from jobtui.engine.worker import chain, lifecycle, opstarter, pipeline
from jobtui.engine.worker.left_running import op_left_elsewhere
from jobtui.engine.worker.logcap import DEFAULT_CAP_MIB, LogCap, after_line, skipped_text
from jobtui.engine.worker.logship import LogShipper
from jobtui.engine.worker.opjournal import op_log_file
from jobtui.engine.worker.pipeline import JobRef
from jobtui.engine.worker.runner import log_tail, op_title, stamped
from jobtui.engine.worker.sweeps import note_left_running
from jobtui.engine.worker.traps import resolve_trap

log = logging.getLogger(__name__)

TRAP_ACTIONS = ("retry", "skip", "abort", "pause", "resume")
# Operator-editable settings and their defaults.
SETTINGS: dict[str, object] = {"pause_queue_on_failure": False, "op_log_cap_mib": DEFAULT_CAP_MIB}


class Refused(Refusal):
    """Not allowed now, or not permitted. str() is the reason (CLI exit 1, a notification in the app)."""


class UnknownJob(BadInput, LookupError):
    """No such job (CLI exit 2)."""


@dataclass(frozen=True)
class RefusedOn:
    """What a refused action was about, for its audit row (job 0: the queue, settings, a submission)."""

    job_id: int
    job_name: str
    status: str | None


QUEUE = RefusedOn(0, "(queue)", None)


@dataclass(frozen=True)
class QueueState:
    paused: bool
    reason: str | None
    queued: int
    running: int
    workers: int


@dataclass(frozen=True)
class Queued:
    """The queued (READY) jobs: those a queue clear cancels, in every project."""

    jobs: int
    # Of them, those not due yet (as the job table's Waiting column has it, empty for them): waiting for
    # their RUN date, a window to open, a failed task's retry or an earlier job of their envelope. A clear
    # cancels them too, which an operator may not expect of "queued".
    not_due: int
    # Of them, those in projects the actor may not view: counted, never named (the clear cancels them too,
    # and a number smaller than what it cancels misled the operator).
    hidden: int = 0


class Actions:
    def __init__(self, store: Store, actor: Actor, lock_wait_s: float | None = None) -> None:
        """`lock_wait_s`: how long an action waits behind another process's write lock (None: the
        Store's setting) before it is refused, naming the holder."""
        self.store = store
        self.actor = actor
        self.lock_wait_s = lock_wait_s

    # -- shared prelude -------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction whose audit rows name the real user too, when this actor is impersonated."""
        with self.store.write(lock_wait_s=self.lock_wait_s) as s:
            act_for(s, self.actor.real)
            yield s

    @contextmanager
    def _acting(
        self, action: str, job_id: int, also: Callable[[Job], str | None] | None = None
    ) -> Iterator[tuple[Session, Job]]:
        """The job, locked in a transaction, unless `action` (or `also`, a refusal of the action's own
        arguments) is refused: then the refusal is audited and raised."""
        with self.transaction() as s:
            try:
                job = self.store.lock_job(s, job_id)
            except CorruptValue:
                # A date column holding no date: named, row and field, to whoever may view the job.
                bad = bad_job_rows(s, [job_id]).get(job_id)
                if bad is None or not self.actor.may(Perm.VIEW, bad.project):
                    raise
                raise bad.problem from None
            if job is None:
                raise UnknownJob(f"{display_action(action)}: no job {job_id}")
            if self.actor.may(Perm.VIEW, job.project):
                # Nothing is done to a row changed by hand: the operator repairs it first.
                check_job(job)
            reason = self.refusal(s, action, job) or (also(job) if also is not None else None)
            if not reason:
                yield s, job
                return
            refused = RefusedOn(job_id, job.name, job.status)
        # Recorded after the action's transaction ended: it changed nothing, and the record must stay.
        self.record_refusal(display_action(action), reason, refused)
        raise Refused(reason)

    def record_refusal(self, action: str, reason: str, on: RefusedOn | None = None) -> None:
        """Audit a refused action (who, what, which job, why) without touching the job. A database that
        cannot take the row does not hide the refusal: the caller still raises it."""
        try:
            with self.transaction() as s:
                s.add(
                    AuditEvent(
                        job_id=on.job_id if on else 0,
                        job_name=on.job_name if on else "",
                        at=self.store.now(),
                        who=self.actor.user,
                        by_user=self.actor.real,
                        action=action,
                        from_status=on.status if on else None,
                        to_status=None,
                        comment=reason,
                        refused=True,
                    )
                )
        except Exception:  # a full disk or a lost database: the refusal itself still reaches the user
            log.warning("could not audit the refusal of %s by %s: %s", action, self.actor.user, reason)

    def require(self, action: str, permission: Perm, project: str, on: RefusedOn | None = None) -> None:
        """`Actor.require`, with the refusal audited."""
        try:
            self.actor.require(action, permission, project)
        except PermissionRefused as exc:
            self.record_refusal(action, str(exc), on)
            raise

    def refusal(self, s: Session, action: str, job: Job) -> str | None:
        """Why `actor` may not do `action` to `job` now, or None. The UI enables keys from this."""
        rule = ACTIONS[action]
        name = display_action(action)
        if action in ("approve", "reject"):
            approvers = pipeline.definition_of(job).approvers
            if not self.actor.may_approve(job.project, approvers):
                return Reason(
                    f"{name}: {self.actor.user} lacks {Perm.APPROVE_ALL.value} on project {job.project} "
                    "and is not a listed approver",
                    reasons.NOT_APPROVER,
                    action=name,
                    user=self.actor.user,
                    permission=Perm.APPROVE_ALL.value,
                    project=job.project,
                )
        elif not self.actor.may(rule.permission, job.project):
            return Reason(
                f"{name}: {self.actor.user} lacks {rule.permission.value} on project {job.project}",
                reasons.PERMISSION,
                action=name,
                user=self.actor.user,
                permission=rule.permission.value,
                project=job.project,
            )
        assert job.id is not None
        by_status = refusal_for_status(action, job.id, job_status(job))
        if by_status:
            return by_status
        return self._extra_refusal(s, action, job)

    def _extra_refusal(self, s: Session, action: str, job: Job) -> str | None:
        name = display_action(action)
        if action == "rollback" and not pipeline.has_rollback_work(s, job):
            return Reason(
                f"{name}: job {job.id} has no completed ops with a rollback command",
                reasons.NO_ROLLBACK_WORK,
                action=name,
                job=job.id,
            )
        if action in ("reschedule", "rerun") and job.outcome and job_status(job) == Status.READY:
            # Rejected or expired, it waits only to run its POST step: a new RUN date would change nothing,
            # and a rerun would drop the POST it owes and its end (reschedule or rerun it once it ended).
            return Reason(
                f"{name}: job {job.id} is ending {job.outcome}: its POST step runs first, RUN never will",
                reasons.ENDING,
                action=name,
                job=job.id,
                status=job.outcome,
            )
        if action == "reschedule" and job.run_started_at is not None:
            return Reason(
                f"{name}: job {job.id} has already started its RUN step",
                reasons.RUN_STARTED,
                action=name,
                job=job.id,
            )
        if action == "delete" and (waiting := chain.waiting_on(s, job)):
            # Deleted, it would never end: the chain would neither release nor cancel the jobs after it.
            envelope = s.get(Envelope, job.envelope_id)
            envelope_name = envelope.name if envelope is not None else ""
            nxt = waiting[0]
            return Reason(
                f"{name}: job {nxt.id} ({nxt.name}) of envelope {job.envelope_id} ({envelope_name}) waits "
                f"for job {job.id}; cancel job {job.id} first (the chain cancels the jobs after it) or "
                f"cancel the envelope",
                reasons.CHAIN_WAITS,
                action=name,
                job=job.id,
                waiting=nxt.id,
                waiting_name=nxt.name,
                envelope=job.envelope_id,
                name=envelope_name,
            )
        if action == "delete" and job.envelope_id is not None and job_status(job) not in FINAL_STATUSES:
            envelope = s.get(Envelope, job.envelope_id)
            envelope_name = envelope.name if envelope is not None else ""
            return Reason(
                f"{name}: job {job.id} of envelope {job.envelope_id} ({envelope_name}) has not ended "
                f"({job.status}): deleted, the envelope would read as if it had never had it; cancel job "
                f"{job.id} first or cancel the envelope",
                reasons.ENVELOPE_JOB_NOT_ENDED,
                action=name,
                job=job.id,
                status=job.status,
                envelope=job.envelope_id,
                name=envelope_name,
            )
        # A delete too: it would erase the host and pid the operator needs to find that process.
        waits_for_op = ("rerun", "retry", "rollback", "delete")
        if action in waits_for_op and (left := _op_left_elsewhere_once(s, job)) is not None:
            return op_left_reason(name, job.id or 0, left)
        runs_again = action in ("rerun", "retry", "reschedule")
        if runs_again and (undone := _envelope_rolled_back(s, job)) is not None:
            return Reason(
                f"{name}: envelope {undone.id} ({undone.name}) of job {job.id} was rolled back: running "
                "the job again would apply what the rollback undid; submit the envelope again",
                reasons.ENVELOPE_ROLLED_BACK,
                action=name,
                job=job.id,
                envelope=undone.id,
                name=undone.name,
            )
        if action == "retry":
            later = self._later_job_of_project(s, job)
            if later is not None:
                return Reason(
                    f"{name}: job {later.id} ({later.name}) of project {job.project} has run since "
                    f"job {job.id} failed; rerun it instead",
                    reasons.LATER_JOB_RAN,
                    action=name,
                    job=job.id,
                    later=later.id,
                    later_name=later.name,
                    project=job.project,
                )
        return None

    def allowed(self, job_id: int) -> dict[str, str | None]:
        """Every action with None when allowed, else its refusal: what the dashboard enables."""
        with self.store.read() as s:
            job = s.get(Job, job_id)
            if job is None:
                return {}
            return {action: self.refusal(s, action, job) for action in ACTIONS}

    def _audit(
        self,
        s: Session,
        job: Job,
        action: str,
        to: Status | None = None,
        comment: str | None = None,
        **fields: Any,
    ) -> None:
        self.store.change_job(s, job, self.actor.user, action, to, comment=comment, **fields)

    # -- submission -----------------------------------------------------------------------------------

    def submit(
        self,
        definition: Definition,
        at: str | None = None,
        max_start: str | None = None,
        keep: bool = False,
        given_as: Mapping[str, str] | None = None,
    ) -> int:
        """Submit one job. Unless `keep`, earlier submissions of the same definition for the same targets
        that have not started RUN are REPLACED by it (seed 003). `given_as` names where `at` and
        `max_start` were given (the CLI's flags), for messages."""
        return self.submit_many(definition, 1, at=at, max_start=max_start, keep=keep, given_as=given_as)[0]

    def submit_many(
        self,
        definition: Definition,
        count: int,
        at: str | None = None,
        max_start: str | None = None,
        keep: bool = True,
        given_as: Mapping[str, str] | None = None,
    ) -> list[int]:
        """Create `count` jobs of one definition in one transaction (set-based: bulk loads and tests)."""
        if not self.actor.may(Perm.CREATE, definition.project):
            reason = f"submit: {self.actor.user} lacks {Perm.CREATE.value} on project {definition.project}"
            self.record_refusal("submit", reason, RefusedOn(0, definition.name, None))
            raise Refused(reason)
        resolved = self._resolve(definition, at, max_start, given_as)
        with self.transaction() as s:
            ids = self._create_jobs(s, definition, count, resolved)
            if not keep:
                targets = list(definition.targets or (definition.name,))
                for old in self._replaceable(s, definition, targets, ids):
                    lifecycle.mark_replaced(self.store, s, old, ids[-1], self.actor.user)
            return ids

    def _resolve(
        self,
        definition: Definition,
        at: str | None,
        max_start: str | None,
        given_as: Mapping[str, str] | None = None,
    ) -> schedules.ResolvedSchedule:
        try:
            return schedules.resolve(
                definition, self.store.now(), at=at, max_start=max_start, given_as=given_as
            )
        except TimeParseError as exc:
            raise BadValue(f"{definition.source}: {exc}") from exc

    def _create_jobs(
        self,
        s: Session,
        definition: Definition,
        count: int,
        resolved: schedules.ResolvedSchedule,
        envelope_id: int | None = None,
        position: int | None = None,
        wait_for: str | None = None,
    ) -> list[int]:
        """Insert the jobs with their tasks, planned ops and audit rows; `wait_for` parks them (due never)
        until the envelope chain releases them."""
        now = self.store.now()
        scheduled, max_start_at = resolved.scheduled_at, resolved.max_start_at
        job_row = dict(
            name=definition.name,
            type=definition.type,
            project=definition.project,
            status=Status.READY.value,
            step=Step.INIT.value,
            progress=0,
            natures=json.dumps(list(definition.natures)),
            owner=self.actor.user,
            system=definition.system,
            envelope_id=envelope_id,
            envelope_position=position,
            exec=1,
            created_at=now,
            scheduled_at=scheduled,
            max_start_at=max_start_at,
            status_since=now,
            due_at=None if wait_for else resolved.due_at,
            reason=wait_for,
            schedule=resolved.schedule.to_json(),
            expires_at=resolved.schedule.expires,
            approved=False,
            failed=False,
            definition=json.dumps(definition.to_dict()),
            source=definition.source,
            log_path="",
            seq=0,
        )
        targets = list(definition.targets or (definition.name,))
        first = self.store.first_new_job_id(s)
        job_rows = (
            [job_row] * count if first is None else [{**job_row, "id": first + n} for n in range(count)]
        )
        inserted = s.execute(insert(JOBS).returning(JOBS.c.id, sort_by_parameter_order=True), job_rows)
        ids = [int(row[0]) for row in inserted]
        s.execute(
            update(JOBS).where(JOBS.c.id == bindparam("job_id")).values(log_path=bindparam("path")),
            [{"job_id": i, "path": self.store.log_file(i)} for i in ids],
        )
        task_rows = [
            {
                "job_id": i,
                "target": t,
                "position": n,
                "status": TaskStatus.SCHEDULED.value,
                "progress": 0,
                "attempts": 0,
            }
            for i in ids
            for n, t in enumerate(targets)
        ]
        task_ids = [
            int(row[0])
            for row in s.execute(insert(TASKS).returning(TASKS.c.id, sort_by_parameter_order=True), task_rows)
        ]
        per_job = len(targets)
        op_rows = [
            row
            for n, job_id in enumerate(ids)
            for row in pipeline.plan_rows(
                definition, job_id, 1, task_ids[n * per_job : (n + 1) * per_job], Step.PRE
            )
        ]
        if op_rows:
            s.execute(insert(OP_RUNS), op_rows)
        s.execute(
            insert(AUDIT),
            [
                {
                    "job_id": i,
                    "job_name": definition.name,
                    "at": now,
                    "who": self.actor.user,
                    "by_user": self.actor.real,
                    "action": "submit",
                    "from_status": None,
                    "to_status": Status.READY.value,
                    "comment": f"from {definition.source}",
                }
                for i in ids
            ],
        )
        for job_id in ids:
            self.store.touch(s, job_id)
        return ids

    def replaced_by(self, job_id: int) -> list[int]:
        """Ids of the jobs `job_id` replaced when it was submitted."""
        with self.store.read() as s:
            ids = s.scalars(select(Job.id).where(Job.replaced_by == job_id).order_by(Job.id)).all()
            return [int(i) for i in ids if i is not None]

    @staticmethod
    def _replaceable(s: Session, definition: Definition, targets: list[str], new_ids: list[int]) -> list[Job]:
        """Earlier jobs of this definition (name, project, type), same targets, RUN not started."""
        candidates = s.scalars(
            select(Job).where(
                Job.name == definition.name,
                Job.project == definition.project,
                Job.type == definition.type,
                Job.status.in_([Status.READY.value, Status.APPROVAL.value, Status.PAUSED.value]),
                Job.run_started_at.is_(None),
                Job.worker_id.is_(None),
                Job.envelope_id.is_(None),  # a chain's jobs belong to their envelope
                Job.id.not_in(new_ids),
            )
        ).all()
        wanted = sorted(targets)
        return [
            job for job in candidates if sorted(t.target for t in pipeline.tasks_of(s, job.id or 0)) == wanted
        ]

    # -- approval -------------------------------------------------------------------------------------

    def approve(self, job_id: int, comment: str | None = None) -> None:
        with self._acting("approve", job_id) as (s, job):
            self._audit(
                s,
                job,
                "approve",
                Status.READY,
                comment,
                approved=True,
                due_at=job.scheduled_at or self.store.now(),
            )

    def reject(self, job_id: int, comment: str | None = None) -> None:
        with self._acting("reject", job_id) as (s, job):
            now = self.store.now()
            why = f"rejected by {self.actor.user}" + (f": {comment}" if comment else "")
            pipeline.skip_pending(s, job, (Step.RUN.value,), now)
            if pipeline.next_pending(s, job, Step.POST.value) is not None:
                # POST still runs its notifications, then the job stands still as REJECTED.
                self._audit(
                    s,
                    job,
                    "reject",
                    Status.READY,
                    comment,
                    step=Step.POST.value,
                    outcome=Status.REJECTED.value,
                    due_at=now,
                    reason=why,
                )
            else:
                self._audit(
                    s,
                    job,
                    "reject",
                    Status.REJECTED,
                    comment,
                    step=Step.END.value,
                    ended_at=now,
                    due_at=None,
                    reason=why,
                )
                pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)

    # -- cancel and delete ----------------------------------------------------------------------------

    def cancel(self, job_id: int, comment: str | None = None) -> None:
        with self._acting("cancel", job_id) as (s, job):
            engine_here = self.engine_alive_here(s, job.worker_id)
            running = self.cancel_in(s, job, comment)
        if engine_here:
            # Its engine kills the whole tree as it sees its lease gone (within a pass): signalled from
            # here as well, the op got SIGTERM twice and its clean-up ran twice, the second cut short.
            return
        # No engine of this host holds it (none, a dead one, one of another host): its op on this host
        # stops at once all the same.
        self.terminate_and_log(running, "job CANCELED")

    def engine_alive_here(self, s: Session, worker_id: str | None) -> bool:
        """Whether `worker_id` is a live engine of this host (a fresh heartbeat, its process there)."""
        if worker_id is None:
            return False
        worker = s.get(Worker, worker_id)
        if worker is None or worker.stopped_at is not None or worker.host != socket.gethostname():
            return False
        fresh_since = self.store.now().subtract(seconds=FRESH_HEARTBEAT_S)
        heartbeat = pendulum.instance(worker.heartbeat_at) if worker.heartbeat_at is not None else None
        if heartbeat is None or heartbeat < fresh_since:
            return False
        # A stopped engine (SIGSTOP) kills nothing until it is continued: the op would run on, and a rerun
        # on another engine of this host run the job twice meanwhile.
        return is_same_process(worker.pid, worker.pid_create_time, worker.pid_start) and not is_stopped(
            worker.pid
        )

    def terminate_and_log(self, running: list[OpRun], why: str) -> None:
        """Stop the ops that were running on this host (see terminate_local; SIGKILL to what outlives the
        grace period) and say in each job's log what was signalled; then ship those logs to the database,
        for every host to read, unless the op's engine still lives here (stopped, or frozen: it ships
        the log itself once it runs again, and would ship the same bytes twice). What the op wrote with no
        engine to cap it is cut to the op's share of the log (op_log_cap_mib), with the marker, as its
        engine cuts it."""
        signalled = [found for op_run in running if (found := terminate_local(op_run)) is not None]
        if not signalled:
            return
        stopping: list[_Stopping] = []
        for found in signalled:
            op_run = found.op_run
            path, target, engine_lives, cap = self._log_of(found)
            if cap is not None and not engine_lives:
                cap.enforce(at_once=True)  # before the line: what the op wrote past its share goes
            now = self.store.now()
            line = stamped(now, f"op terminated ({why}): SIGTERM to {found.what}")
            first = _first_line_unless_logged(path, op_run, target, now)
            placed = local_ops.append_placed(path, first + line)
            stopping.append(_Stopping(found, path, None if engine_lives else cap, placed))
        killed = local_ops.kill_what_outlives(signalled)
        for stop in stopping:
            if stop.cap is not None and stop.placed is not None:
                after = after_line(stop.cap, *stop.placed)  # what is left of its share after the line
                after.enforce(final=True)
                if after.skipped:  # counted before the line too
                    marker = skipped_text(after.skipped, after.exact, stop.cap.limit)
                    local_ops.append(stop.path, stamped(self.store.now(), marker))
            if names := killed.get(stop.found.op_run.id or 0):
                local_ops.append(
                    stop.path, stamped(self.store.now(), f"SIGKILL after the grace period to: {names}")
                )
        self._ship_logs({stop.found.op_run.job_id: stop.path for stop in stopping if stop.cap is not None})

    def _log_of(self, stopped: Signalled) -> tuple[str, str, bool, LogCap | None]:
        """The op's job's log file ("" for a job gone), its task's target, whether the engine that started
        it is still a process of this host, and the op's share of the log from where this host's chunks
        of it end (what its engine shipped before it was gone; None: no file)."""
        op_run = stopped.op_run
        host = socket.gethostname()
        with self.store.read() as s:
            job = s.get(Job, op_run.job_id)
            path = ""
            if job is not None:
                path = self.store.log_file(op_run.job_id)
                ops = op_log_file(op_run.status_file, op_run.job_id)
                if ops is not None and ops != path and local_ops.may_write_for(ops, stopped):
                    path = ops
            task = s.get(Task, op_run.task_id) if op_run.task_id is not None else None
            target = task.target if task is not None else ""
            engines = s.scalars(select(Worker).where(Worker.host == host)).all()
            mib = self.store.get_setting(s, "op_log_cap_mib", DEFAULT_CAP_MIB)
            shipped = s.execute(
                select(func.max(LOG_CHUNKS.c.file_offset + func.length(LOG_CHUNKS.c.data))).where(
                    LOG_CHUNKS.c.job_id == op_run.job_id, LOG_CHUNKS.c.host == host
                )
            ).scalar()
        # Its tokens start with its id (EngineState.new_token).
        engine = next((w for w in engines if op_run.token and op_run.token.startswith(w.id)), None)
        lives = engine is not None and is_same_process(engine.pid, engine.pid_create_time, engine.pid_start)
        try:
            limit = max(1, int(float(mib) * (1 << 20)))
        except (TypeError, ValueError):
            limit = DEFAULT_CAP_MIB << 20
        cap = LogCap(path, int(shipped or 0), limit) if path else None
        return path, target, lives, cap

    def _ship_logs(self, paths: dict[int, str]) -> None:
        """The logs of ops stopped here, into the database, from where this host's chunks of them end."""
        if not paths:
            return
        shipper = LogShipper(self.store, socket.gethostname())
        try:
            with self.store.write(walking=True, lock_wait_s=self.lock_wait_s) as s:
                for job_id, path in paths.items():
                    shipper.ship_job(s, job_id, path)
        except Exception as exc:  # the ops are stopped either way; their logs' ends stay in this host's files
            log.warning("could not ship the logs of the ops stopped here: %s", exc)

    def cancel_in(self, s: Session, job: Job, comment: str | None) -> list[OpRun]:
        """Cancel inside the caller's transaction (permission and table already checked); returns the ops
        that were running, for the caller to signal once the transaction is committed."""
        now = self.store.now()
        running = self._running_ops(s, job)
        for op_run in running:
            # Not a failure of the op: the job it ran for was canceled, and the op is stopped for it. It is
            # skipped past, as the job's ops still to come are, when it was (its end: no exit status).
            op_run.status = OpStatus.SKIPPED.value
            op_run.skipped_at = now
            op_run.completed_at = now
            op_run.error = f"canceled by {self.actor.user}"
            s.add(op_run)
        pipeline.skip_pending(s, job, (Step.PRE.value, Step.RUN.value, Step.POST.value, ROLLBACK_STEP), now)
        pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)
        self._audit(
            s,
            job,
            "cancel",
            Status.CANCELED,
            comment,
            # A job that had ended (rejected, expired) keeps when it did: its elapsed time stays what ran.
            # The cancel itself is now (its audit row, its status's since).
            ended_at=job.ended_at or now,
            at=now,
            due_at=None,
            worker_id=None,
            lease=None,
            trap_deadline_at=None,
            reason=f"canceled by {self.actor.user}",
        )
        pipeline.refresh_progress(self.store, s, job, JobRef(self.actor.user))
        note_left_running(self.store, s, job, running, self.actor.user)
        return running

    def delete(self, job_id: int) -> None:
        with self._acting("delete", job_id) as (s, job):
            self.store.audit(s, job, self.actor.user, "delete", job.status, None, "job deleted")
            _keep_envelope_failure(s, job)
            s.execute(delete(OpRun).where(OpRun.job_id == job_id))
            s.execute(delete(Task).where(Task.job_id == job_id))
            s.execute(delete(LOG_CHUNKS).where(LOG_CHUNKS.c.job_id == job_id))
            s.execute(delete(Job).where(Job.id == job_id))
            self.store.touch(s, job_id)
        # Its files in this store's folder only: the folder its row names may be another database's (this
        # one restored from a copy of it).
        for path in self.store.log_dir.glob(f"job-{job_id}.*"):
            with contextlib.suppress(OSError):
                path.unlink()

    # -- rerun, reschedule, retry ---------------------------------------------------------------------

    def rerun(
        self, job_id: int, step: str, run_now: bool = False, action: str = "rerun", comment: str | None = None
    ) -> None:
        try:
            from_step = Step(step.upper())
        except ValueError:
            raise BadValue(f'{action}: step must be PRE, RUN or POST, not "{step}"') from None
        if from_step not in (Step.PRE, Step.RUN, Step.POST):
            raise BadValue(f'{action}: step must be PRE, RUN or POST, not "{step}"')

        def skips_run(job: Job) -> str | None:
            if from_step == Step.RUN:
                return _skipped_pre(display_action(action), job)
            return _skipped_run(display_action(action), job) if from_step == Step.POST else None

        with self._acting(action, job_id, also=skips_run) as (s, job):
            now = self.store.now()
            fields = _ready_again(now, step=from_step.value, exec=job.exec + 1, progress=0)
            if from_step in (Step.PRE, Step.RUN):
                fields["run_started_at"] = None
            if from_step == Step.PRE:
                fields["started_at"] = None
            # Past its Max Start Date (an Expired job, say) or its schedule's expiry (a fire-and-forget
            # job that used up its retries), it would expire again at once: it runs now.
            limits = (("Max Start Date", job.max_start_at), ("schedule's expiry", job.expires_at))
            passed = [what for what, when in limits if when is not None and pendulum.instance(when) <= now]
            if from_step == Step.POST:
                passed = []  # RUN does not run again: its date stays what it was
            if (from_step == Step.RUN and run_now) or passed:
                fields.update(_moved_schedule(job, now))
            note = f"from {from_step.value}" + (" (run now)" if run_now else "")
            if passed and not run_now:
                note += f" (its {' and '.join(passed)} had passed: RUN now)"
            self._audit(s, job, action, Status.READY, f"{note}; {comment}" if comment else note, **fields)
            pipeline.settle_tasks(s, job, TaskStatus.SCHEDULED, force=True)
            pipeline.create_plan(s, job, from_step)

    def retry(self, job_id: int) -> None:
        """Seed 004's retry of a failed job: from its failed step (a rerun of that step, run now); a
        partially succeeded one runs again only its tasks that did not succeed, from where they stopped."""
        with self.store.read() as s:
            job = s.get(Job, job_id)
            partial = job is not None and job.status == Status.PARTIAL
        if partial and self._retry_partial(job_id):
            return  # (else its status moved meanwhile: retried as it now says)
        with self.store.read() as s:
            job = s.get(Job, job_id)
            step = (job.failed_step or job.step) if job else "RUN"
        if step not in (Step.PRE, Step.RUN, Step.POST):
            step = Step.PRE.value
        self.rerun(job_id, step, run_now=True, action="retry", comment="retry after failure")

    def _retry_partial(self, job_id: int) -> bool:
        """The retry of a PARTIAL job; False, changing nothing, when it was no longer PARTIAL."""
        with self._acting("retry", job_id) as (s, job):
            if job.status != Status.PARTIAL:
                return False
            now = self.store.now()
            retried = pipeline.pend_unsucceeded_tasks(s, job)
            fields = _ready_again(now, step=retried.step.value)
            # Past its schedule's expiry (an expiry made it PARTIAL) it would end again at once: now.
            if job.expires_at is not None and pendulum.instance(job.expires_at) <= now:
                fields.update(_moved_schedule(job, now))
            names = ", ".join(retried.targets[:_NAMED_TASKS]) + (
                ", …" if len(retried.targets) > _NAMED_TASKS else ""
            )
            tasks = counted(len(retried.targets), "task")
            note = f"from {retried.step.value}, the {tasks} that did not succeed" + (
                f" ({names})" if names else ""
            )
            self._audit(s, job, "retry", Status.READY, f"{note}; retry after failure", **fields)
            pipeline.refresh_progress(self.store, s, job, JobRef(self.actor.user))
        return True

    def reschedule(self, job_id: int, when: str | pendulum.DateTime) -> None:
        if isinstance(when, str):
            # Bad input first, whatever the job's status: a script told "refused" (exit 1) for a date that
            # is no date branched as if the date had been right.
            parse_when(when, self.store.now())
        with self._acting("reschedule", job_id) as (s, job):
            now = self.store.now()
            new = parse_when(when, now) if isinstance(when, str) else when.in_timezone("UTC")
            # A date in the past: RUN as soon as it can, its Max Start Date and schedule counted from now
            # (moved by the same span from the past date, they would have expired it at once).
            new = max(new, now)
            fields = _moved_schedule(job, new)
            to: Status | None = None
            replan = job.status == Status.EXPIRED and job.step == Step.END
            if replan:
                # It ran its POST step as it expired: RUN and POST run again, as in a rerun from RUN.
                to = Status.READY
                fields.update(_ready_again(now, step=Step.RUN.value, exec=job.exec + 1, progress=0))
                fields["run_started_at"] = None
            elif job.status == Status.EXPIRED:
                to = Status.READY
                fields.update(reason=None, ended_at=None)
                lifecycle.pend_failed_retried_ops(s, job)
                s.execute(
                    update(TASKS)
                    .where(TASKS.c.job_id == job.id, TASKS.c.status == TaskStatus.CANCELLED.value)
                    .values(status=TaskStatus.SCHEDULED.value)
                )
            if to == Status.READY or job.status == Status.READY:
                fields["due_at"] = new if job.step == Step.RUN or replan else now
            # A job waiting for a failed task's next attempt (a PRE op of a fire-and-forget job): that
            # attempt comes at the new date, not at the one the operator moved it from, and the job is
            # due then.
            waiting = s.execute(
                update(TASKS)
                .where(TASKS.c.job_id == job.id, TASKS.c.status == TaskStatus.RESCHEDULED.value)
                .values(next_attempt_at=new)
            )
            if waiting.rowcount and "due_at" in fields:  # type: ignore[attr-defined]
                fields["due_at"] = new
            self._audit(s, job, "reschedule", to, f"RUN at {new.isoformat()}", **fields)
            if replan:
                pipeline.settle_tasks(s, job, TaskStatus.SCHEDULED, force=True)
                pipeline.create_plan(s, job, Step.RUN)

    # -- traps ----------------------------------------------------------------------------------------

    def trap(self, job_id: int, what: str, comment: str | None = None) -> None:
        if what not in TRAP_ACTIONS:
            raise BadValue(f'trap: expected one of {", ".join(TRAP_ACTIONS)}, not "{what}"')
        with self._acting(f"trap_{what}", job_id) as (s, job):
            said = resolve_trap(self.store, s, job, what, self.actor.user, comment)
            # Into the database's copy of the job's log, in the transaction: before anything an engine then
            # runs for the job writes, whatever host or log folder the resolver has (no file of its own).
            line = stamped(self.store.now(), said)
            LogShipper(self.store, socket.gethostname()).ship_lines(s, {job_id: line})

    # -- rollback -------------------------------------------------------------------------------------

    def rollback(self, job_id: int, reason: str | None = None) -> None:
        with self._acting("rollback", job_id) as (s, job):
            self.store.change_job(
                s, job, self.actor.user, "step", step=Step.END.value, outcome=None, due_at=None
            )
            pipeline.begin_rollback(self.store, s, job, JobRef(self.actor.user), comment=reason or "manual")

    # -- the queue ------------------------------------------------------------------------------------

    def queue_state(self) -> QueueState:
        with self.store.read() as s:
            paused = pipeline.queue_paused(self.store, s)
            reason = self.store.get_setting(s, "queue_paused_reason") if paused else None
            stale = self.store.now().subtract(minutes=1)

            from jobtui.engine.read.listing import ALL_PROJECTS, JobListing, scope_of

            # The jobs this actor may view: counts are what a read reveals (another project's busy night).
            scope = scope_of(self.actor)

            def count(*where: Any) -> int:
                if scope != ALL_PROJECTS:
                    where = (*where, JOBS.c.project.in_(sorted(scope)))
                return int(s.execute(select(func.count()).select_from(JOBS).where(*where)).scalar_one())

            if self.store.is_sqlite:
                # Kept by triggers (no scan of the jobs) when every project is in scope.
                counts = JobListing(self.store.reader, scope).status_counts(show_system=True)
                queued = counts.get(Status.READY.value, 0)
                running = sum(counts.get(status.value, 0) for status in LIVE_STATUSES)
            else:
                queued = count(JOBS.c.status == Status.READY.value)
                running = count(JOBS.c.status.in_([status.value for status in LIVE_STATUSES]))
            workers = int(
                s.execute(
                    select(func.count())
                    .select_from(WORKERS)
                    .where(
                        WORKERS.c.stopped_at.is_(None),
                        WORKERS.c.stopping_at.is_(None),  # it claims nothing more
                        WORKERS.c.heartbeat_at >= stale,
                    )
                ).scalar_one()
            )
        return QueueState(paused, reason, queued, running, workers)

    def queued(self) -> Queued:
        """What `queue_clear` would cancel now: every queued job, whatever its project, with how many of
        them are not due yet and how many are in projects this actor may not view (one count query, so a
        queue of 100k jobs costs no read of its rows)."""
        from jobtui.engine.read.listing import ALL_PROJECTS, scope_of

        with self.store.read() as s:
            now = self.store.now()
            # A job due before its RUN date is due for its PRE step: it waits for the date all the same.
            not_due = or_(JOBS.c.due_at.is_(None), JOBS.c.due_at > now, JOBS.c.scheduled_at > now)
            scope = scope_of(self.actor)
            hidden = (
                literal(0)
                if scope == ALL_PROJECTS
                else func.count(case((JOBS.c.project.not_in(sorted(scope)), 1)))
            )
            jobs, later, unseen = s.execute(
                select(func.count(), func.count(case((not_due, 1))), hidden)
                .select_from(JOBS)
                .where(JOBS.c.status == Status.READY.value)
            ).one()
        return Queued(int(jobs), int(later), int(unseen))

    def queue_pause(self, reason: str | None = None) -> None:
        self._queue_change("queue pause", True, reason)

    def queue_resume(self) -> None:
        self._queue_change("queue resume", False, None)

    def _queue_change(self, action: str, paused: bool, reason: str | None) -> None:
        """Pause (with `reason`, else who paused it) or resume the queue. Asking for the state it is in
        changes nothing and records nothing (a script pausing twice left two pauses in the trail), but a
        pause given a new reason keeps that reason."""
        self.require(action, Perm.QUEUE_ADMIN, "*", QUEUE)
        with self.transaction() as s:
            if pipeline.queue_paused(self.store, s) == paused and (
                not paused or reason is None or reason == self.store.get_setting(s, "queue_paused_reason")
            ):
                return
            if paused and reason is None:
                reason = f"paused by {self.actor.user}"
            self.store.set_setting(s, "queue_paused", paused)
            self.store.set_setting(s, "queue_paused_reason", reason)
            self.store.set_setting(s, "queue_paused_by", self.actor.user)
            s.add(
                AuditEvent(
                    job_id=0,
                    job_name="(queue)",
                    at=self.store.now(),
                    who=self.actor.user,
                    by_user=self.actor.real,
                    action=action,
                    comment=reason,
                )
            )
            self.store.touch(s, None, kind="queue")

    def settings(self) -> dict[str, object]:
        with self.store.read() as s:
            return {key: self.store.get_setting(s, key, default) for key, default in SETTINGS.items()}

    def set_setting(self, key: str, value: object) -> None:
        if key not in SETTINGS:
            raise BadValue(f'settings: unknown setting "{key}"')
        self.require(f"settings {key}", Perm.QUEUE_ADMIN, "*", RefusedOn(0, "(settings)", None))
        with self.transaction() as s:
            old = self.store.get_setting(s, key, SETTINGS[key])
            self.store.set_setting(s, key, value)
            s.add(
                AuditEvent(
                    job_id=0,
                    job_name="(settings)",
                    at=self.store.now(),
                    who=self.actor.user,
                    by_user=self.actor.real,
                    action="setting",
                    comment=f"{key}: {json.dumps(old)} → {json.dumps(value)}",
                )
            )
            self.store.touch(s, None, kind="settings")

    def queue_clear(self) -> list[int]:
        """Cancel every queued (READY) job; running jobs go on. Returns the cancelled ids."""
        self.require("queue clear", Perm.QUEUE_ADMIN, "*", QUEUE)
        with self.transaction() as s:
            jobs = list(s.scalars(select(Job).where(Job.status == Status.READY.value).order_by(Job.id)))
            now = self.store.now()
            for job in jobs:
                if job.status != Status.READY.value:
                    # Its envelope's chain cancelled it as the clear cancelled the job before it: cancelled
                    # again, its reason no longer named that stop, and a rerun of that job left it out.
                    continue
                pipeline.skip_pending(s, job, (Step.PRE.value, Step.RUN.value, Step.POST.value), now)
                pipeline.settle_tasks(s, job, TaskStatus.CANCELLED)
                self.store.change_job(
                    s,
                    job,
                    self.actor.user,
                    "queue clear",
                    Status.CANCELED,
                    comment="queue cleared",
                    ended_at=now,
                    due_at=None,
                    reason=f"queue cleared by {self.actor.user}",
                )
            s.add(
                AuditEvent(
                    job_id=0,
                    job_name="(queue)",
                    at=now,
                    who=self.actor.user,
                    by_user=self.actor.real,
                    action="queue clear",
                    comment=f"{counted(len(jobs), 'job')} canceled",
                )
            )
            self.store.touch(s, None, kind="queue")
            return [j.id for j in jobs if j.id is not None]

    # -- helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _running_ops(s: Session, job: Job) -> list[OpRun]:
        return list(
            s.scalars(select(OpRun).where(OpRun.job_id == job.id, OpRun.status == OpStatus.RUNNING.value))
        )

    @staticmethod
    def _later_job_of_project(s: Session, job: Job) -> Job | None:
        since = job.ended_at or job.status_since
        if since is None:
            return None
        return s.scalars(
            select(Job)
            .where(Job.project == job.project, Job.id != job.id, Job.started_at > since)
            .order_by(Job.started_at)
            .limit(1)
        ).first()


def _keep_envelope_failure(s: Session, job: Job) -> None:
    """A failed job of an envelope, deleted: the envelope keeps its failure on record (its status came
    from its jobs alone, and read SUCCESS once the failed ones were gone)."""
    if job.envelope_id is None or Status(job.status) not in FAILED_JOB:
        return
    envelope = s.get(Envelope, job.envelope_id)
    if envelope is not None and EnvelopeStatus(envelope.status) not in STICKY:
        envelope.status = EnvelopeStatus.ERRORS.value
        s.add(envelope)


def _envelope_rolled_back(s: Session, job: Job) -> Envelope | None:
    """The envelope of `job` when it was rolled back, or its rollback is under way (not the rollback job
    itself, which may be run again)."""
    if job.envelope_id is None or job.type == ROLLBACK_JOB_TYPE:
        return None
    envelope = s.get(Envelope, job.envelope_id)
    if envelope is None or envelope.rollback_job_id is None:
        return None
    if envelope.status == EnvelopeStatus.ROLLEDBACK:
        return envelope
    rollback = s.get(Job, envelope.rollback_job_id)
    return envelope if rollback is not None and rollback.status not in FINAL_STATUSES else None


def _op_left_elsewhere_once(s: Session, job: Job) -> OpRun | None:
    """`op_left_elsewhere`, read once a session: `allowed` (each detail read of the dashboard) asks it for
    the four actions that wait for such an op."""
    key = ("op_left_elsewhere", job.id, job.exec)
    if key not in s.info:
        s.info[key] = op_left_elsewhere(s, job)
    left: OpRun | None = s.info[key]
    return left


def op_left_reason(action: str, job_id: int, left: OpRun) -> Reason:
    """Why `action` must wait: it would start an op of job `job_id` (or undo what it did) while `left`,
    an op of it, may still run on another host: its engine was lost, or the job was canceled from a host
    that could not signal it (`op_left_elsewhere`)."""
    host, pid = left.host or "", left.pid or "?"
    kind = reasons.OP_LEFT_RUNNING
    if left.status == OpStatus.SKIPPED.value:
        # Canceled from another host: its own engine may be alive, about to stop it (not "lost").
        kind = reasons.OP_CANCELED_ELSEWHERE
        why = (
            f"it was canceled from another host, which cannot signal it, and no engine of {host} has said "
            f"it stopped it yet; one running there does at its next pass (start one if none runs, or"
        )
    else:
        why = (
            f"its engine was lost and no daemon of {host} has been heard from since to kill it; start one "
            f"there first (or"
        )
    return Reason(
        f"{action}: the op of exec {left.exec} of job {job_id} may still run on {host} (pid {pid}): {why}, "
        f"if {host} is gone for good: jobtui host-gone {shlex.quote(host)})",
        kind,
        action=action,
        job=job_id,
        exec=left.exec,
        host=host,
        pid=pid,
    )


def _skipped_run(action: str, job: Job) -> str | None:
    """Why a rerun from POST may not skip RUN: it ends the job FINISHED (and lets its envelope go on) as if
    RUN had succeeded, so RUN must have, in the job's last run, and its changes must still stand."""
    if pipeline.definition_of(job).approval and not job.approved:
        # Approval gates RUN: a job nobody approved would end FINISHED without its RUN.
        return Reason(
            f"{action}: job {job.id} was never approved; from POST it would skip RUN and its approval "
            "(rerun from PRE or RUN)",
            reasons.SKIPS_APPROVAL,
            action=action,
            job=job.id,
        )
    if job.status == Status.ROLLEDBACK:
        cause = "was rolled back"
    elif job.failed_step in (Step.PRE, Step.RUN):
        cause = f"failed in {job.failed_step}"
    elif job.run_started_at is None or job.step in (Step.INIT, Step.PRE, Step.RUN):
        cause = "did not get through RUN"
    else:
        return None
    return Reason(
        f"{action}: job {job.id} {cause}; from POST it would end without a RUN that succeeded "
        "(rerun from PRE or RUN)",
        reasons.SKIPS_RUN,
        action=action,
        job=job.id,
        cause=cause,
    )


def _skipped_pre(action: str, job: Job) -> str | None:
    """Why a rerun from RUN may not skip PRE: RUN would run after a PRE that failed, or never ran (the
    job expired or was canceled before it was through)."""
    if not pipeline.definition_of(job).pre:
        return None
    if job.failed_step == Step.PRE:
        cause = "failed in PRE"
    elif job.started_at is None or job.step in (Step.INIT, Step.PRE):
        cause = "did not get through PRE"
    else:
        return None
    return Reason(
        f"{action}: job {job.id} {cause}; from RUN it would run without a PRE that succeeded "
        "(rerun from PRE)",
        reasons.SKIPS_PRE,
        action=action,
        job=job.id,
        cause=cause,
    )


def _moved_schedule(job: Job, new: pendulum.DateTime) -> dict[str, Any]:
    """A new RUN date; Max Start Date and the schedule's start and expiry keep their distance from it."""
    fields: dict[str, Any] = {"scheduled_at": new}
    if job.scheduled_at is not None and job.max_start_at is not None:
        fields["max_start_at"] = new + (job.max_start_at - job.scheduled_at)
    schedule = lifecycle.schedule_of(job)
    if schedule is not None and job.scheduled_at is not None:
        moved = schedule.moved(new - pendulum.instance(job.scheduled_at))
        fields.update(schedule=moved.to_json(), expires_at=moved.expires)
    return fields


def _first_line_unless_logged(path: str, op_run: OpRun, target: str, now: pendulum.DateTime) -> str:
    """The op's "started" line, when its log does not have it yet: a silent op's starter writes it only
    once the op writes or has run SILENT_S (its engine ships it with the op's end), and the termination
    line must not come first. Looked for in the log's tail, stamped no earlier than the op's start (an
    earlier run of the same op has the same words); an op whose line is further back than the tail has
    written more than that since, so its starter wrote it, unless it started within SILENT_S."""
    if op_run.started_at is None:
        return ""
    started = pendulum.instance(op_run.started_at)
    first = stamped(started, f"{op_title(op_run.step, op_run.name, target)}: started")
    # Compared by date and time alone: logs written before the stamps said `Z` have the same lines.
    stamp, unstamped = first[len("[jobtui ") :][:19], first.partition("] ")[2]
    try:
        size, tail = log_tail(path, _TAIL_BYTES)
    except OSError:
        return first
    line = re.compile(rb"\[jobtui ([0-9 :-]{19})Z?\] " + re.escape(unstamped.encode()))
    if any(found.group(1).decode() >= stamp for found in line.finditer(tail)):
        return ""
    if size > _TAIL_BYTES and (now - started).total_seconds() > opstarter.SILENT_S + 1:
        return ""
    return first


@dataclass
class _Stopping:
    """An op a cancel stops itself: its job's log, the op's share of it (None: its engine, alive, ships
    and caps the log), and where the line saying it was signalled went (None: nowhere)."""

    found: Signalled
    path: str
    cap: LogCap | None
    placed: tuple[int, int] | None


_TAIL_BYTES = 1 << 20
# How many of the tasks a retry runs again its audit row names.
_NAMED_TASKS = 5


def _ready_again(now: pendulum.DateTime, **fields: Any) -> dict[str, Any]:
    """A job's row made READY again by a rerun or a retry (`fields` besides): due now, its failure, end
    and trap forgotten, held by no engine."""
    return dict(
        failed=False,
        failed_step=None,
        outcome=None,
        reason=None,
        ended_at=None,
        trap_op_run_id=None,
        trap_deadline_at=None,
        trap_left_s=None,
        worker_id=None,
        lease=None,
        due_at=now,
        **fields,
    )


__all__ = ["Actions", "PermissionRefused", "QueueState", "Queued", "Refused", "UnknownJob"]
