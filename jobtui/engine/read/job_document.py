"""A job as the CLI's JSON contract gives it (`jobtui jobs --json`, the head of `show --json`), from its
stored values: the ORM's rows (service.views) and the plain driver's (read.job_pages) build it here alike,
so the two read paths cannot drift apart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import pendulum

from jobtui.engine.domain.states import ROLLBACK_STEP, OpStatus, Status, Step, status_label
from jobtui.engine.domain.stored_jobs import DEFINITION_EXPECTED, natures_of
from jobtui.engine.errors import CorruptRow


class StoredJob(Protocol):
    """What a job's document is built from: an ORM Job, or a row the plain driver read."""

    @property
    def id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def progress(self) -> int: ...
    @property
    def natures(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def envelope_id(self) -> int | None: ...
    @property
    def exec(self) -> int: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def scheduled_at(self) -> datetime | None: ...
    @property
    def max_start_at(self) -> datetime | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def system(self) -> bool: ...
    @property
    def status_since(self) -> datetime | None: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def replaced_by(self) -> int | None: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def run_started_at(self) -> datetime | None: ...


class StoredOp(Protocol):
    """An op run as a step of the `show` JSON is built from: an ORM OpRun, or a row the driver read."""

    @property
    def id(self) -> int | None: ...
    @property
    def task_id(self) -> int | None: ...
    @property
    def name(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def skipped_at(self) -> datetime | None: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def exit_code(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def deadline_at(self) -> datetime | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def position(self) -> int: ...


class StoredTask(Protocol):
    """A task as the `show` JSON's is built from: an ORM Task, or a row the driver read."""

    @property
    def id(self) -> int | None: ...
    @property
    def target(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def last_triggered_at(self) -> datetime | None: ...
    @property
    def current_step(self) -> str | None: ...
    @property
    def progress(self) -> int: ...
    @property
    def attempts(self) -> int: ...
    @property
    def next_attempt_at(self) -> datetime | None: ...


def iso(when: datetime | None) -> str | None:
    return None if when is None else pendulum.instance(when).in_timezone("UTC").isoformat()


BEFORE_RUN = frozenset({Step.INIT.value, Step.PRE.value})


def next_run_at(job: StoredJob, pre_pending: bool | None = None) -> pendulum.DateTime | None:
    """When the engine will next run something of the job (its PRE step, a window opening, a retry, the
    RUN date). `pre_pending`: whether PRE has an op left to run (None: not known, as in a list of jobs,
    taken as yes before RUN): PRE runs when the job is due, only RUN waits for its date (seed 001: a
    Ready job is picked up "at any moment, except for the RUN step"; a job with PRE ops read "in 3 h"
    while they were about to run)."""
    if job.status not in (Status.READY, Status.PAUSED) or job.due_at is None:
        return None
    due = pendulum.instance(job.due_at)
    if job.step in BEFORE_RUN and pre_pending is not False:
        return due
    if job.run_started_at is None and job.scheduled_at is not None:
        return max(due, pendulum.instance(job.scheduled_at))
    return due


def next_run_why(data: dict[str, Any]) -> str | None:
    """What a waiting job's next run is (None: it has none), from its `show` JSON; its `reason`, when
    set, says more (a chain, a closed window)."""
    if data["next_run_at"] is None:
        return None
    if data["step"] == Step.POST:  # rejected or expired: POST, then its end
        return "its POST step runs, then the job ends"
    if any(task["status"] == "RESCHEDULED" for task in data["tasks"]):
        return "a failed task is tried again"
    if data["status"] == Status.PAUSED:
        return "its schedule window reopens"
    if data["schedule"] and data["schedule"]["mode"] == "window":
        return "its schedule window opens"
    if data["step"] in BEFORE_RUN and _pre_pending(data):
        return "its PRE step runs (RUN waits for its scheduled date)"
    return "its scheduled date"


def _pre_pending(data: dict[str, Any]) -> bool:
    steps = [*data["steps"], *(step for task in data["tasks"] for step in task["steps"])]
    return any(step["step"] == Step.PRE and step["status"] == OpStatus.PENDING for step in steps)


def job_document(job: StoredJob, trap: dict[str, Any] | None, lang: str = "en") -> dict[str, Any]:
    """The job's JSON; `trap` what its trap is (None: it is not trapped). Its values were checked
    (stored_jobs): a status jobtui does not know raises CorruptRow."""
    return {
        "id": job.id,
        "name": job.name,
        "type": job.type,
        "project": job.project,
        "status": job.status,
        "status_label": status_label(Status(job.status), lang),
        "step": job.step,
        "progress": job.progress,
        "natures": natures_of(f"job {job.id}", job.natures),
        "owner": job.owner,
        "envelope": job.envelope_id,
        "exec": job.exec,
        "created_at": iso(job.created_at),
        "scheduled_at": iso(job.scheduled_at),
        "max_start_at": iso(job.max_start_at),
        "started_at": iso(job.started_at),
        "ended_at": iso(job.ended_at),
        "trap": trap,
        "system": job.system,
        "status_since": iso(job.status_since),
        "reason": job.reason,
        "expires_at": iso(job.expires_at),
        "next_run_at": iso(next_run_at(job)),
        "replaced_by": job.replaced_by,
    }


def trap_document(
    job: StoredJob,
    trap_deadline_at: datetime | None,
    trap_left_s: float | None,
    op: str | None,
    target: str | None,
    now: datetime,
) -> dict[str, Any] | None:
    """What the job's trap is (None: it is not trapped): its op, the op's target, how long is left before
    the trap times out (None: it waits forever), and whether the countdown is paused."""
    if job.status not in (Status.TRAPPED, Status.TRAP_PAUSED):
        return None
    paused = job.status == Status.TRAP_PAUSED
    if paused:
        left = trap_left_s
    elif trap_deadline_at is None:
        left = None  # waits forever
    else:
        left = max(0.0, (trap_deadline_at - now).total_seconds())
    return {"op": op, "target": target, "timeout_left_s": left, "paused": paused}


def step_json(op: StoredOp) -> dict[str, Any]:
    return {
        "id": op.id,
        "name": op.name,
        "step": op.step,
        "status": op.status,
        "started_at": iso(op.started_at),
        "skipped_at": iso(op.skipped_at),
        "completed_at": iso(op.completed_at),
        "exit_code": op.exit_code,
        "error": op.error,
        "deadline_at": iso(op.deadline_at),
        # Where it ran (runs): on several hosts sharing a queue, nothing else said which, or which process.
        "host": op.host,
        "pid": op.pid,
        # Its place in the execution's plan (rollbacks after every op): a task's steps and the job-wide
        # ones shown together are in the order they run.
        "position": op.position,
    }


def task_json(task: StoredTask, ops: Sequence[StoredOp]) -> dict[str, Any]:
    return {
        "target": task.target,
        "status": task.status,
        "last_triggered_at": iso(task.last_triggered_at),
        "current_step": task.current_step,
        "progress": task.progress,
        "attempts": task.attempts,
        "next_attempt_at": iso(task.next_attempt_at),
        "steps": [step_json(op) for op in ops],
    }


def tasks_json(tasks: Sequence[StoredTask], ops: Sequence[StoredOp]) -> list[dict[str, Any]]:
    """The tasks, each with its ops (`ops` in plan order)."""
    # Grouped once: matching every op against every task is quadratic (20,000 targets took minutes).
    by_task: dict[int | None, list[StoredOp]] = defaultdict(list)
    for op in ops:
        by_task[op.task_id].append(op)
    return [task_json(task, by_task.get(task.id, ())) for task in tasks]


def detail_json(
    head: dict[str, Any],
    job: StoredJob,
    tasks: list[dict[str, Any]],
    total: int,
    ops: Sequence[StoredOp],
    first_task: int | None,
    log_path: str,
    schedule: str | None,
    definition: str,
) -> dict[str, Any]:
    """The `show` JSON: the job's document (`head`) with its tasks (`first_task`: where a window of them
    begins, None: all of them), its ops of no single task, where its log is, its schedule and who may
    approve it. `previous_took_s` of its running steps are added by the caller."""
    data = head
    data["tasks"] = tasks
    if first_task is not None:
        data["tasks_start"] = first_task
    data["tasks_total"] = total
    # Ops that belong to no single task (job-wide ops of a job with several targets) and rollbacks.
    data["steps"] = [step_json(op) for op in ops if op.task_id is None or op.step == ROLLBACK_STEP]
    data["log_path"] = log_path
    # Here, not at the top: the dashboard's first paint imports this module (the workers' documents).
    from jobtui.engine.domain.definitions import definition_from_text
    from jobtui.engine.domain.schedules import JobSchedule

    # Known here: whether PRE has an op left (a job without one is picked up only to wait for its date).
    upcoming = next_run_at(job, _pre_pending(data))
    data["next_run_at"] = iso(upcoming)
    plan = JobSchedule.from_json(schedule)
    data["schedule"] = plan.view(upcoming) if plan is not None else None
    data["next_run_why"] = next_run_why(data)
    # Who may approve it besides those with approve_all on its project (None: it needs no approval).
    try:
        wanted = definition_from_text(definition)
    except Exception:  # whatever a hand-written value trips on inside, as a schedule's (stored_jobs)
        raise CorruptRow(f"job {job.id}", "definition", definition, DEFINITION_EXPECTED) from None
    data["approvers"] = list(wanted.approvers) if wanted.approval else None
    return data


def running_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of the `show` JSON whose op runs now (they get how long their last run took)."""
    steps = [*data["steps"], *(step for task in data["tasks"] for step in task["steps"])]
    return [step for step in steps if step["status"] == OpStatus.RUNNING]


# How many of the latest jobs of the same name a running op's previous run is looked for in.
PREVIOUS_JOBS = 20
# A running op's previous runs: `system` the job's kind as the backend writes a boolean, `ops` the
# parameter of the running ops' names.
PREVIOUS_RUNS = (
    "SELECT name, step, started_at, completed_at FROM op_runs WHERE job_id IN "
    "(SELECT id FROM jobs WHERE name = :name AND project = :project "
    "AND system = {system} ORDER BY id DESC LIMIT :jobs) "
    "AND status = 'done' AND name IN {ops} AND started_at IS NOT NULL AND completed_at IS NOT NULL "
    "ORDER BY completed_at DESC"
)


def add_previous_runs(running: list[dict[str, Any]], rows: Sequence[Sequence[Any]]) -> None:
    """Give each running step how long its op's last successful run took ("previous_took_s"), from
    `rows` (name, step, started, completed; newest first)."""
    took: dict[tuple[str, str], float] = {}
    for name, step, started, completed in rows:
        took.setdefault((name, step), (completed - started).total_seconds())
    for step in running:
        step["previous_took_s"] = took.get((step["name"], step["step"]))
