"""How an op ended and what that makes of its job: done, failed (ignored, trapped, rescheduled,
rolled back), abended; then the walk goes on in the same transaction."""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from jobtui.engine.db.models import TASKS, Job, OpRun, Task
from jobtui.engine.db.store import LeaseLost
from jobtui.engine.domain.states import ROLLBACK_STEP, OpStatus, Status, Step, TaskStatus
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.worker import launcher, lifecycle, pipeline, walker
from jobtui.engine.worker.pipeline import JobRef
from jobtui.engine.worker.runner import OpOutcome, ProcessHandle, op_title
from jobtui.engine.worker.slots import Slots
from jobtui.engine.worker.state import EngineState, Held, LaunchSpec
from jobtui.engine.worker.supervision import Supervisor

# What a PRE op may add through $JOBTUI_NATURES_FILE: names, one per line.
NATURE_NAME = re.compile(r"[\w.+#/ -]{1,64}")
MAX_NATURES = 64
NATURES_READ_BYTES = 64 * 1024


class Outcomes:
    def __init__(self, state: EngineState, supervisor: Supervisor, slots: Slots) -> None:
        self.state = state
        self.supervisor = supervisor
        self.slots = slots

    def launch(self, held: Held, spec: LaunchSpec) -> None:
        launcher.start(self.state, self.slots, held, spec)

    def complete(self, held: Held, outcome: OpOutcome) -> None:
        """Record how an op ended in a transaction of its own, then start the job's next op (the
        take-over sweep's path; the engine's pass records outcomes in its batch: `record`)."""
        handle, held.handle = held.handle, None
        held.ready_outcome = None
        spec: LaunchSpec | None = None
        try:
            with self.state.store.write(walking=True) as s:
                spec = self.record(s, held, outcome)
        except LeaseLost:
            self.state.forget_held(held.job_id)
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
            self.launch(held, spec)

    def record(self, s: Session, held: Held, outcome: OpOutcome) -> LaunchSpec | None:
        """Inside a write transaction: record how the op ended, decide the job's next move (trap,
        failure, rollback, next op) and mark its next op started; how to launch it, if any."""
        state = self.state
        job = s.get(Job, held.job_id)
        op_run = s.get(OpRun, held.op_run_id) if held.op_run_id else None
        if job is None or job.lease != held.lease or op_run is None:
            state.forget_held(held.job_id)
            return None
        ref = JobRef(state.who, held.lease)
        title = held.title or _title(s, op_run)
        log_file = state.store.log_file(held.job_id)
        state.append_log(log_file, f"{title}: {outcome.error or 'done'}")
        # The log up to this line reaches the database with the op's end.
        state.shipper.ship_job(s, held.job_id, log_file)
        if outcome.vanished:
            self.abend(s, job, op_run, ref, outcome.error or "op vanished")
            return None
        now = state.store.now()
        op_run.exit_code = outcome.exit_code
        op_run.completed_at = now
        op_run.error = outcome.error
        op_run.status = OpStatus.DONE.value if outcome.ok else OpStatus.FAILED.value
        s.add(op_run)
        goes_on = outcome.ok
        if outcome.ok:
            self._after_success(s, job, op_run, ref)
        else:
            goes_on = self._after_failure(s, job, op_run, ref)
        # A target's op its task went past (done, or failed with on_error = "ignore"): a job of one task
        # (its ops are all the task's) ends with its last op anyway.
        if goes_on and op_run.per_target:
            pipeline.settle_task_if_done(s, job, op_run)
        still_held = job.lease == held.lease  # not when trapped: handed back to an operator
        pipeline.refresh_progress(
            state.store, s, job, ref if still_held else JobRef(state.who), task_id=op_run.task_id
        )
        if not still_held:
            state.let_go_at_commit(s, held.job_id)
            return None
        if state.draining:
            return None
        # Start the next op in the same transaction: one commit per op, not two.
        return walker.walk(state, s, job, held)

    def _after_success(self, s: Session, job: Job, op_run: OpRun, ref: JobRef) -> None:
        if op_run.step == ROLLBACK_STEP and op_run.rollback_of:
            original = s.get(OpRun, op_run.rollback_of)
            if original is not None:
                original.rolled_back = True
                s.add(original)
        if op_run.step == Step.PRE:
            self._collect_natures(s, job, ref)

    def _after_failure(self, s: Session, job: Job, op_run: OpRun, ref: JobRef) -> bool:
        """Trap, retry later or fail the job as the op's `on_error` says; True when the job goes on past
        the op (on_error = "ignore")."""
        store = self.state.store
        op = launcher.op_def(job, op_run)
        on_error = op.on_error if op is not None else "fail"
        if on_error == "ignore":
            return True
        if on_error == "trap":
            # Which target's op failed: the operator resolving the trap must know which host to look at.
            task = s.get(Task, op_run.task_id) if op_run.per_target and op_run.task_id else None
            target = f" for {task.target}" if task is not None else ""
            definition = pipeline.definition_of(job)
            deadline = (
                store.now().add(seconds=definition.trap_timeout_s) if definition.trap_timeout_s > 0 else None
            )
            failed = f'{op_run.step} op "{op_run.name}" failed{target}: {op_run.error}'
            store.change_job(
                s,
                job,
                self.state.who,
                "trap",
                Status.TRAPPED,
                comment=failed,
                held=ref.lease,
                trap_op_run_id=op_run.id,
                trap_deadline_at=deadline,
                trap_left_s=None,
                worker_id=None,
                lease=None,
            )
            pipeline.park_trapped_tasks(s, job)
            # Said in the log too: `log --follow` ended at the op's exit status, as if nothing came next.
            waits = f"trapped: {failed}; waits for an operator to retry, skip or abort it"
            if deadline is not None:
                timeout = format_duration(definition.trap_timeout_s)  # as the definition spells it
                waits += f" (after {timeout} the trap timeout does {definition.trap_timeout_action})"
            log_file = store.log_file(job.id or 0)
            self.state.append_log(log_file, waits)
            self.state.shipper.ship_job(s, job.id or 0, log_file)
            return False
        if not lifecycle.reschedule_failed(store, s, job, op_run, ref):
            pipeline.apply_op_failure(store, s, job, op_run, ref)
        return False

    def _collect_natures(self, s: Session, job: Job, ref: JobRef) -> None:
        added = natures_added(self.state.store.log_dir / f"job-{job.id}.natures", json.loads(job.natures))
        if added:
            natures = json.dumps(json.loads(job.natures) + added)
            self.state.store.change_job(s, job, self.state.who, "natures", held=ref.lease, natures=natures)

    def abend(self, s: Session, job: Job, op_run: OpRun, ref: JobRef, reason: str) -> None:
        state = self.state
        now = state.store.now()
        op_run.status = OpStatus.FAILED.value
        op_run.completed_at = now
        op_run.error = reason
        s.add(op_run)
        log_file = state.store.log_file(job.id or 0)
        # What the vanished op left behind (its children, in its process group) must not run on
        # unsupervised; nothing else of the job runs after an abend.
        if (op_run.pid or op_run.token) and op_run.host == state.host:
            orphan = ProcessHandle(
                op_run.pid,
                op_run.pid_create_time or 0.0,
                op_run.status_file or "",
                None,
                op_run.token,
                log_file,
                op_run.pid_start,
            )
            self.supervisor.terminate_tree(orphan, "abend")
        # the log up to the abend reaches the database with it.
        state.shipper.ship_job(s, job.id or 0, log_file)
        pipeline.skip_pending(s, job, (Step.PRE.value, Step.RUN.value, Step.POST.value, ROLLBACK_STEP), now)
        s.execute(
            update(TASKS)
            .where(
                TASKS.c.job_id == job.id,
                TASKS.c.status.not_in([TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value]),
            )
            .values(status=TaskStatus.FAILED.value, current_step=None)
        )
        state.store.change_job(
            s,
            job,
            state.who,
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
        pipeline.refresh_progress(state.store, s, job, JobRef(state.who))
        state.let_go_at_commit(s, job.id or 0)


def natures_added(path: Path, natures: list[str]) -> list[str]:
    """The natures a PRE op named in its natures file ($JOBTUI_NATURES_FILE) beyond `natures`."""
    try:
        # A nature is a short name; whatever else an op sent there by mistake is left out, and never
        # read whole inside the write transaction.
        # Nor through a symbolic link another user of a shared log folder planted there, nor from a FIFO.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            head = os.read(fd, NATURES_READ_BYTES) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        finally:
            os.close(fd)
    except OSError:
        return []
    lines = (ln.strip() for ln in head.decode("utf-8", errors="replace").splitlines())
    room = max(0, MAX_NATURES - len(natures))
    named = (ln for ln in dict.fromkeys(lines) if NATURE_NAME.fullmatch(ln) and ln not in natures)
    return list(itertools.islice(named, room))


def _title(s: Session, op_run: OpRun) -> str:
    """The op's title as its launch named it (`launcher.launch_spec`), for an op this engine did not launch
    (re-adopted, taken over): its end line left out its target ("RUN deploy: done" of several)."""
    task = s.get(Task, op_run.task_id) if op_run.task_id is not None else None
    return op_title(op_run.step, op_run.name, task.target if task is not None else "")
