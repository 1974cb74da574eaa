"""The engine's fast lane: a job made only of plain ops (no approval gate, no schedule window or retries,
no envelope), claimed before it ever started or parked at its RUN gate until its scheduled date, is
walked from its claim to its end with its plan in memory, and the rows it changes are written set-based:
one statement per table per pass, however many jobs moved.

The lane only ever takes the success path. An op that failed, vanished or timed out, a RUN gate that
would not open, a drain: the job goes to the walker and `Outcomes` (and stays there), which read the rows
this lane wrote. Both write exactly the same rows, audit trail and change feed
(tests/engine/test_fastlane.py compares them), so a job may change lanes at any pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pendulum
from sqlalchemy.orm import Session

from jobtui.engine.db.raw import AUDIT_ROWS, pipelined, select_rows, send_many
from jobtui.engine.domain.states import OpStatus, Status, Step, TaskStatus
from jobtui.engine.domain.text import counted as counted_text
from jobtui.engine.worker import lifecycle, pipeline
from jobtui.engine.worker.launcher import OpToStart, build_spec
from jobtui.engine.worker.outcomes import natures_added
from jobtui.engine.worker.plan import Plan, PlanOp, PlanTask
from jobtui.engine.worker.runner import OpOutcome
from jobtui.engine.worker.state import EngineState, Held, LaunchSpec


@dataclass
class Writes:
    """The rows one pass's lane changes, written together at its end."""

    ops_started: list[dict[str, Any]] = field(default_factory=list)
    ops_done: list[dict[str, Any]] = field(default_factory=list)
    tasks_waiting: list[dict[str, Any]] = field(default_factory=list)
    tasks_started: list[dict[str, Any]] = field(default_factory=list)
    task_progress: list[dict[str, Any]] = field(default_factory=list)
    tasks_done: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    leases: dict[int, str] = field(default_factory=dict)
    audits: list[dict[str, Any]] = field(default_factory=list)
    # Jobs whose op's end the lane recorded, with the line closing the op's part of the log (appended as
    # the log is shipped: one open of the file for both).
    ended_ops: dict[int, str] = field(default_factory=dict)

    def job(self, plan: Plan, **values: Any) -> None:
        self.leases[plan.job_id] = plan.lease
        self.jobs.setdefault(plan.job_id, {}).update(values)


# Read straight through the driver (db/raw.py), for every job claimed in a pass at once.
_PLAN_JOBS = (
    "SELECT id, name, exec, definition, schedule, status, step, progress, natures, reason, "
    "started_at, run_started_at, max_start_at, scheduled_at, approved, outcome, failed, envelope_id "
    "FROM jobs WHERE id IN :ids"
)
_PLAN_TIMES = ("max_start_at", "scheduled_at")
_PLAN_TASKS = (
    "SELECT id, job_id, target, status, attempts FROM tasks WHERE job_id IN :ids ORDER BY job_id, position"
)
# Every execution's ops (kept to the job's current one below): no join with jobs, which PostgreSQL's
# generic plan for a prepared statement made a scan of the whole jobs table.
_PLAN_OPS = (
    "SELECT id, job_id, exec, task_id, step, op_index, name, status FROM op_runs "
    "WHERE job_id IN :ids AND step <> 'ROLLBACK' ORDER BY job_id, exec, position"
)
_LEASES = "SELECT id, lease FROM jobs WHERE id IN :ids"


# Written straight through the driver (db/raw.py): one executemany per statement per pass.
_OP_STARTED = (
    "UPDATE op_runs SET status = 'running', started_at = :now, exit_code = NULL, error = NULL, "
    "completed_at = NULL, skipped_at = NULL, token = :token, host = :host, status_file = :sf, "
    "pid = NULL, pid_create_time = NULL, pid_start = NULL WHERE id = :id"
)
_OP_DONE = (
    "UPDATE op_runs SET status = :status, exit_code = :code, completed_at = :now, error = :error "
    "WHERE id = :id"
)
_TASK_STARTED = (
    "UPDATE tasks SET status = 'RUNNING', last_triggered_at = :now, current_step = :step, "
    "attempts = :attempts WHERE id = :id"
)
_TASK_WAITING = (
    "UPDATE tasks SET status = 'SCHEDULED', current_step = NULL WHERE id = :id AND status = 'RUNNING'"
)
_TASK_PROGRESS = "UPDATE tasks SET progress = :progress WHERE id = :id"
# Every op done: 100, a task owning none too (under job-wide ops), as `pipeline.finish_job` writes it.
_TASK_DONE = "UPDATE tasks SET status = :status, current_step = NULL, progress = 100 WHERE id = :id"


class FastLane:
    def __init__(self, state: EngineState, enabled: bool = True) -> None:
        self.state = state
        self.enabled = enabled
        self.jobs_taken = 0  # jobs given a plan since the engine started (benchmarks, tests)

    # -- plans --------------------------------------------------------------------------------------

    def load_plans(self, s: Session, held: list[Held], now: pendulum.DateTime) -> None:
        """Give each just-claimed job a plan when the lane may walk it (three statements for all)."""
        if not held:
            return
        by_id = {h.job_id: h for h in held}
        ids = list(by_id)
        tasks: dict[int, dict[int, PlanTask]] = {}
        walked: set[int] = set()  # a task already moved: not a fresh job
        for row in select_rows(s, _PLAN_TASKS, ids):
            if row["status"] != TaskStatus.SCHEDULED.value:
                walked.add(row["job_id"])
            tasks.setdefault(row["job_id"], {})[row["id"]] = PlanTask(
                row["id"], row["target"], row["attempts"]
            )
        ops: dict[tuple[int, int], list[PlanOp]] = {}
        for row in select_rows(s, _PLAN_OPS, ids):
            op = PlanOp(row["id"], row["task_id"], row["step"], row["op_index"], row["name"], row["status"])
            ops.setdefault((row["job_id"], row["exec"]), []).append(op)
        for row in select_rows(s, _PLAN_JOBS, ids, _PLAN_TIMES):
            job_id = row["id"]
            one = by_id[job_id]
            job_ops = ops.get((job_id, row["exec"]), [])
            if not self.enabled or job_id in walked or not _fresh(row, job_ops):
                continue
            try:
                definition = pipeline.definition_from_text(row["definition"])
            except Exception:
                continue  # the walker meets it in a savepoint of its own, and the batch goes on
            if definition.approval and not row["approved"]:
                continue
            one.plan = Plan(
                job_id=job_id,
                lease=one.lease,
                name=row["name"],
                exec=row["exec"],
                log_path=self.state.store.log_file(job_id),
                definition=definition,
                step=row["step"],
                progress=row["progress"],
                natures=list(json.loads(row["natures"])),
                reason=row["reason"],
                run_started=False,
                max_start_at=row["max_start_at"],  # aware UTC (_PLAN_TIMES): compared with now only
                scheduled_at=row["scheduled_at"],
                tasks=tasks.get(job_id, {}),
                ops=job_ops,
            )
            self.jobs_taken += 1
            if row["exec"] == 1 and row["step"] == Step.INIT.value:
                self.state.shipper.starts_empty(job_id)

    def takes(self, held: Held, outcome: OpOutcome | None, now: pendulum.DateTime) -> bool:
        """Whether the lane records `outcome` (or walks the job on) this pass; when not, the job leaves
        the lane for good, before the lane wrote anything for it this pass."""
        plan = held.plan
        if plan is None:
            return False
        ok = outcome is None or (outcome.ok and plan.current is not None)
        if ok and not self.state.draining and plan.gate_opens(now):
            return True
        held.plan = None
        return False

    def check_leases(self, s: Session, held: list[Held]) -> list[Held]:
        """The held jobs whose lease still stands, their rows locked until commit (PostgreSQL); the others
        are let go, as the walker would. On SQLite the pass read every held job's lease already, in this
        transaction, whose writer holds the database: all of them stand."""
        if not held or self.state.store.is_sqlite:
            return held
        query = _LEASES + " FOR UPDATE"
        leases = {row["id"]: row["lease"] for row in select_rows(s, query, [h.job_id for h in held])}
        kept = []
        for one in held:
            if leases.get(one.job_id) == one.lease:
                kept.append(one)
            else:
                self.state.forget_held(one.job_id)
        return kept

    # -- walking ------------------------------------------------------------------------------------

    def record(
        self, writes: Writes, held: Held, outcome: OpOutcome, now: pendulum.DateTime
    ) -> LaunchSpec | None:
        """The plan's op succeeded: record it, walk on; the next op to launch, None once the job ended."""
        plan = held.plan
        assert plan is not None and plan.current is not None
        op, plan.current = plan.current, None
        title = held.title or f"{op.step} {op.name}"
        writes.ended_ops[plan.job_id] = self.state.log_line(f"{title}: {outcome.error or 'done'}")
        plan.mark_done(op)
        writes.ops_done.append(
            {"id": op.id, "status": op.status, "code": outcome.exit_code, "now": now, "error": outcome.error}
        )
        if op.task_id is not None and _task_done(plan, op.task_id):
            writes.tasks_done.append({"id": op.task_id, "status": TaskStatus.SUCCEEDED.value})
        if op.step == Step.PRE:
            added = natures_added(self.state.store.log_dir / f"job-{plan.job_id}.natures", plan.natures)
            if added:
                plan.natures = plan.natures + added
                writes.job(plan, natures=json.dumps(plan.natures))
        self._progress(writes, plan, op.task_id)
        return self.walk(writes, held, now)

    def walk(self, writes: Writes, held: Held, now: pendulum.DateTime) -> LaunchSpec | None:
        """Walk the plan to its next op (marked started) or to its end (walker.next_op, for fresh jobs)."""
        plan = held.plan
        assert plan is not None
        while True:
            if plan.step == Step.INIT:
                plan.step = Step.PRE.value
                writes.job(plan, step=plan.step, started_at=now)
            if plan.step == Step.RUN and not plan.run_started:
                plan.run_started = True
                writes.job(plan, run_started_at=now)
            op = next((o for o in plan.ops if o.step == plan.step and o.status == OpStatus.PENDING), None)
            if op is not None:
                return self._start(writes, held, plan, op, now)
            if plan.step == Step.POST:
                self._finish(writes, plan, now)
                return None
            if plan.step == Step.RUN:  # pipeline.settle_done_tasks
                for task_id in plan.tasks:
                    mine = plan.ops_of(task_id)
                    if mine and all(o.status == OpStatus.DONE for o in mine):
                        writes.tasks_done.append({"id": task_id, "status": TaskStatus.SUCCEEDED.value})
            plan.step = Step.POST.value if plan.step == Step.RUN else Step.RUN.value
            writes.job(plan, step=plan.step)

    def _start(
        self, writes: Writes, held: Held, plan: Plan, op: PlanOp, now: pendulum.DateTime
    ) -> LaunchSpec:
        """pipeline.mark_op_started and launcher.launch_spec."""
        state = self.state
        op.status = OpStatus.RUNNING.value
        plan.current = op
        task = plan.tasks.get(op.task_id) if op.task_id is not None else None
        ops = plan.definition.ops(op.step)
        spec = build_spec(
            state,
            OpToStart(
                plan.job_id,
                plan.name,
                plan.exec,
                plan.log_path,
                op.id,
                op.step,
                op.name,
                None,
                task.target if task is not None else "",
                ops[op.op_index] if op.op_index < len(ops) else None,
            ),
        )
        writes.ops_started.append(
            {"id": op.id, "now": now, "token": spec.token, "host": state.host, "sf": spec.status_file}
        )
        # pipeline.mark_op_started: the task whose op ran before, with ops still to come, waits (a
        # job-wide op belongs to no task: every task waits while it runs).
        before = plan.running_task
        if before is not None and (task is None or before != task.id) and not _task_done(plan, before):
            writes.tasks_waiting.append({"id": before})
        plan.running_task = task.id if task is not None else None
        if task is not None:
            task.attempts = max(task.attempts, 1)
            writes.tasks_started.append(
                {"id": task.id, "now": now, "step": op.name, "attempts": task.attempts}
            )
        writes.job(plan)  # the lease is still checked, and the job is in the feed
        return spec

    def _progress(self, writes: Writes, plan: Plan, task_id: int | None) -> None:
        """pipeline.refresh_progress, from the plan's op statuses."""
        total = len(plan.ops)
        progress = 100 * plan.done_count() // total if total else 0
        if task_id is not None:
            owners = [task_id]
        else:
            owners = sorted({o.task_id for o in plan.ops if o.task_id is not None})
        for owner in owners:
            mine = plan.ops_of(owner)
            finished = sum(1 for o in mine if o.status == OpStatus.DONE)
            writes.task_progress.append({"id": owner, "progress": 100 * finished // len(mine) if mine else 0})
        if progress != plan.progress:
            plan.progress = progress
            writes.job(plan, progress=progress)

    def _finish(self, writes: Writes, plan: Plan, now: pendulum.DateTime) -> None:
        """pipeline.finish_job with every task succeeded: FINISHED, audited, let go at commit."""
        for task in plan.tasks.values():
            writes.tasks_done.append({"id": task.id, "status": TaskStatus.SUCCEEDED.value})
        writes.job(
            plan,
            status=Status.FINISHED.value,
            status_since=now,
            step=Step.END.value,
            ended_at=now,
            due_at=None,
            worker_id=None,
            lease=None,
        )
        plan.step = Step.END.value
        writes.audits.append(
            {
                "job_id": plan.job_id,
                "job_name": plan.name,
                "at": now,
                "who": self.state.who,
                "action": "finish",
                "from_status": Status.RUNNING.value,
                "to_status": Status.FINISHED.value,
                "comment": plan.reason,  # as finish_job says it: the job's reason, if it has one
                "refused": False,
                "by_user": None,
            }
        )
        unfinished = (OpStatus.PENDING.value, OpStatus.RUNNING.value)
        if plan.progress != 100 and not any(o.status in unfinished for o in plan.ops):
            plan.progress = 100
            writes.jobs[plan.job_id]["progress"] = 100

    # -- writing ------------------------------------------------------------------------------------

    def write(self, s: Session, writes: Writes) -> None:
        """Everything the lane changed this pass: one statement per table (per shape of job update)."""
        store = self.state.store
        if not writes.jobs:
            return
        seqs = store.touch_many(s, list(writes.jobs))
        for job_id, seq in seqs.items():
            writes.jobs[job_id]["seq"] = seq
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for job_id, values in writes.jobs.items():
            row = {f"v_{k}": v for k, v in values.items()}
            row.update(j_id=job_id, j_lease=writes.leases[job_id])
            shapes.setdefault(tuple(sorted(values)), []).append(row)
        job_updates: list[tuple[int, Callable[[], int]]] = []
        with pipelined(s):  # none of these waits for another's result
            for statement, rows in (
                (_OP_DONE, writes.ops_done),
                (_OP_STARTED, writes.ops_started),
                (_TASK_WAITING, writes.tasks_waiting),  # before the starts: one task may be in both
                (_TASK_STARTED, writes.tasks_started),
                (_TASK_PROGRESS, writes.task_progress),
                (_TASK_DONE, writes.tasks_done),
                (AUDIT_ROWS, writes.audits),
            ):
                send_many(s, statement, rows)
            for keys, rows in shapes.items():
                assignments = ", ".join(f"{key} = :v_{key}" for key in keys) or "id = :j_id"
                sql = f"UPDATE jobs SET {assignments} WHERE id = :j_id AND lease = :j_lease"
                job_updates.append((len(rows), send_many(s, sql, rows)))
        for expected, counted in job_updates:
            if (changed := counted()) != expected:
                # The leases were checked (and their rows locked) at the start of the pass: a bug.
                lost = counted_text(expected - changed, "job")
                raise RuntimeError(f"fast lane: {lost} lost their lease mid-pass")


def _task_done(plan: Plan, task_id: int) -> bool:
    """pipeline.settle_task_if_done, from the plan: RUN has begun, and neither an op of the task nor a
    job-wide PRE or RUN op is still to end."""
    if not plan.run_started:
        return False
    unfinished = (OpStatus.PENDING.value, OpStatus.RUNNING.value)
    shared = (Step.PRE.value, Step.RUN.value)
    if any(o.status in unfinished for o in plan.ops_of(task_id)):
        return False
    return not any(o.status in unfinished and o.step in shared for o in plan.ops_of(None))


def _fresh(row: dict[str, Any], ops: list[PlanOp]) -> bool:
    """A job the lane may walk: claimed to RUNNING before RUN started (never started, or parked at its
    RUN gate until its scheduled date), nothing failed or decided yet, and no rule beyond plain ops."""
    if (
        row["status"] != Status.RUNNING.value
        or row["run_started_at"] is not None
        or row["failed"]
        or row["outcome"] is not None
        or row["envelope_id"] is not None
    ):
        return False
    if not (row["step"] == Step.RUN.value or (row["step"] == Step.INIT.value and row["started_at"] is None)):
        return False
    schedule = lifecycle.schedule_from_text(row["schedule"])
    if schedule is not None and (schedule.windowed or schedule.retries):
        return False
    settled = {OpStatus.PENDING.value}
    if row["step"] == Step.RUN.value:
        settled.add(OpStatus.DONE.value)  # its PRE ops
    return all(op.status in settled for op in ops)
