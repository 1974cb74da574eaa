"""`jobtui demo --jobs N`: a bulk load of historical jobs for load tests and big-screen demos.

Every job follows one of a couple of hundred *shapes* (definition × status): its tasks, op runs and
audit trail, with every timestamp an offset from the job's creation. A job of the load is then just
(id, shape, creation time, …). On SQLite those compact tuples go into a temporary table with
`executemany`, in chunks, and one INSERT … SELECT per table expands them into the real rows. Binding
every column of every row from Python instead costs ~10 µs a row on a small machine: 27 s for 200,000
jobs, over two minutes for a million, where this takes well under one. Other backends get the same
rows built in Python and inserted with SQLAlchemy Core (a test holds the two paths to the same rows).

Only statuses an engine leaves alone are generated (no RUNNING or ROLLBACK: a real engine would take
those over as orphans), and READY/APPROVAL jobs wait for dates in the future, so nothing runs, expires
or times out by itself when an engine starts on the loaded database.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import pendulum
from sqlalchemy import ColumnDefault, Table, func, insert, select, text

from jobtui.engine.db import counts
from jobtui.engine.db.models import AUDIT, CHANGES, JOBS, OP_RUNS, TASKS, Envelope
from jobtui.engine.db.store import NEVER_REUSED, Store
from jobtui.engine.domain.states import ROLLBACK_STEP, OpStatus, Status, Step, TaskStatus
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.worker.pipeline import SUCCESSES

__all__ = ["BULK_STATUSES", "bulk_load"]

ENVELOPES = cast(Table, Envelope.__table__)  # type: ignore[attr-defined]
CHUNK = 20_000
# A few big transactions rather than one: a load's pages go to the WAL and are checkpointed as it goes,
# instead of a multi-gigabyte cache and WAL at the end (measured: 41-44 s against 63-68 s for 1M jobs).
COMMIT_EVERY = 100_000
CACHE_KIB = 256_000
HISTORY_DAYS = 90
OWNERS = ("alice", "bob", "carol", "dave", "erin")
# Approvals, rejections, cancels, trap pauses and rollbacks are an operator's.
OPERATOR = "frank"
ROLLBACK_BASE = 1_000_000  # pipeline.begin_rollback numbers rollback op runs from here

# Statuses an engine can leave alone; the weights make history look like history (mostly finished).
STATUS_WEIGHTS: dict[Status, int] = {
    Status.FINISHED: 40,
    Status.ERROR: 8,
    Status.PARTIAL: 6,
    Status.CANCELED: 5,
    Status.ROLLEDBACK: 4,
    Status.ABEND: 3,
    Status.EXPIRED: 4,
    Status.REJECTED: 3,
    Status.REPLACED: 3,
    Status.APPROVAL: 3,
    Status.TRAPPED: 3,
    Status.TRAP_PAUSED: 2,
    Status.PAUSED: 2,
    Status.READY: 4,
}
BULK_STATUSES: tuple[Status, ...] = tuple(STATUS_WEIGHTS)
_FUTURE = frozenset({Status.READY, Status.APPROVAL})


@dataclass(frozen=True)
class _HistDef:
    """A job definition the history is made of: its targets and how long its ops take."""

    name: str
    type: str
    project: str
    targets: tuple[str, ...]
    natures: tuple[str, ...]
    run_s: int  # per target
    post_s: int


HISTORY: tuple[_HistDef, ...] = (
    _HistDef("deploy-web", "deploy", "payments", ("web-01", "web-02", "web-03"), ("java",), 25, 3),
    _HistDef("release-db", "release", "payments", ("db-01",), ("sql",), 90, 2),
    _HistDef("schema-change", "release", "payments", ("db-01", "db-02"), ("sql",), 45, 2),
    _HistDef("patch-routers", "patch", "network", ("rt-1", "rt-2"), (), 30, 2),
    _HistDef("firmware-rollout", "patch", "network", ("dev-a", "dev-b", "dev-c"), ("firmware",), 60, 3),
    _HistDef("nightly-report", "job", "analytics", ("etl-01",), ("python",), 300, 5),
    _HistDef("etl-load", "job", "analytics", ("etl-01", "etl-02"), ("python", "sql"), 180, 5),
    _HistDef("backup", "job", "ops", ("nas-01",), (), 600, 2),
    _HistDef("rotate-logs", "job", "ops", ("app-01", "app-02", "app-03"), (), 8, 1),
    _HistDef("deploy-frontend", "deploy", "web", ("cdn-1", "cdn-2"), ("node",), 20, 3),
    _HistDef("purge-cache", "job", "web", ("cdn-1", "cdn-2", "cdn-3"), (), 5, 1),
)
PROJECTS: tuple[str, ...] = tuple(dict.fromkeys(d.project for d in HISTORY))

# Which variant of a definition a status needs: an approval gate, a trap that waits forever (no timeout
# an engine would apply the moment it starts on the loaded database), or one with a countdown.
_VARIANT_OF: dict[Status, str] = {
    Status.APPROVAL: "approval",
    Status.REJECTED: "approval",
    Status.EXPIRED: "approval",
    Status.TRAPPED: "trap",
    Status.TRAP_PAUSED: "trap-timed",
}
UNDO = "echo undo $JOBTUI_TARGET"


def _definition_json(hist: _HistDef, variant: str) -> str:
    """The stored definition of a historical job: RUN once per target, then POST.

    It is written into every row, so it is kept short (compact JSON, no PRE): at a million jobs each
    byte here is a megabyte to write twice (WAL, then checkpoint).
    """
    lines = [
        f'name = "{hist.name}"',
        f'type = "{hist.type}"',
        f'project = "{hist.project}"',
        f"natures = {json.dumps(list(hist.natures))}",
        f"targets = {json.dumps(list(hist.targets))}",
        f"approval = {'true' if variant == 'approval' else 'false'}",
        f'trap_timeout = "{"30m" if variant == "trap-timed" else "0"}"',
        "[[run]]",
        'name = "apply"',
        "per_target = true",
        'run = "echo apply $JOBTUI_TARGET; sleep 1"',
        f'rollback = "{UNDO}"',
        f'on_error = "{"trap" if variant.startswith("trap") else "fail"}"',
        "[[post]]",
        'name = "notify"',
        'run = "echo notify"',
    ]
    definition = parse_definition("\n".join(lines), _source(hist))
    return json.dumps(definition.to_dict(), separators=(",", ":"))


def _source(hist: _HistDef) -> str:
    return f"demo/history/{hist.name}.toml"


# -- shapes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OpShape:
    task: int | None  # index into the job's tasks; None for a job-wide op of a job with several targets
    step: str
    op_index: int
    position: int
    name: str
    per_target: bool
    status: str
    started: int | None  # seconds after the job was created
    skipped: int | None
    completed: int | None
    exit_code: int | None = None
    error: str | None = None
    rollback: str | None = None
    rolled_back: bool = False
    rollback_of: int | None = None  # index of the op run this rollback undoes


@dataclass(frozen=True)
class _TaskShape:
    target: str
    status: str
    triggered: int | None
    current_step: str | None
    progress: int
    attempts: int


@dataclass(frozen=True)
class _AuditShape:
    at: int
    who: str  # OWNER: the job's owner; ENGINE: the engine's name on this host
    action: str
    from_status: str | None
    to_status: str | None
    comment: str | None
    dated: int | None = None  # the comment ends with this time (seconds after creation), ISO 8601 in UTC
    after: str = ""  # then with this


@dataclass
class _Shape:
    hist: _HistDef
    status: Status
    definition: str
    step: str = Step.END.value
    sched: int | None = 0  # None: the job's date in the future
    max_start_s: int = 86_400  # after the scheduled date (the definitions' default "+1d")
    started: int | None = 1
    ended: int | None = None
    since: int = 0
    run_started: int | None = None
    due_future: bool = False
    approved: bool = False
    outcome: str | None = None
    failed: bool = False
    failed_step: str | None = None
    reason: str | None = None
    trap_op: int | None = None
    trap_left_s: float | None = None
    tasks: list[_TaskShape] = field(default_factory=list)
    ops: list[_OpShape] = field(default_factory=list)
    audit: list[_AuditShape] = field(default_factory=list)

    @property
    def progress(self) -> int:
        """As the engine counts it (pipeline.refresh_progress, finish_job): ops done, 100 FINISHED."""
        if self.status == Status.FINISHED:
            return 100
        plan = [op for op in self.ops if op.step != ROLLBACK_STEP]
        done = sum(op.status == OpStatus.DONE.value for op in plan)
        return 100 * done // len(plan) if plan else 100


OWNER = "owner"
ENGINE = "engine"
# An op run's state: (status, started, skipped, completed, exit code, error).
_OpState = tuple[str, int | None, int | None, int | None, int | None, str | None]
_PENDING: _OpState = ("pending", None, None, None, None, None)


def _skipped(at: int) -> _OpState:
    return ("skipped", None, at, None, None, None)


def _build_shape(hist: _HistDef, status: Status, definition: str) -> _Shape:
    """One status's worth of history for one definition, as the engine and operators would leave it."""
    shape = _Shape(hist, status, definition)
    n = len(hist.targets)
    claim = 1  # the engine claims the job a second after submission; RUN starts at once (no PRE)
    run_at = [claim + k * hist.run_s for k in range(n)]
    post_start = claim + n * hist.run_s
    post_end = post_start + hist.post_s
    submit = _AuditShape(0, OWNER, "submit", None, "READY", f"from {_source(hist)}")
    shape.audit = [submit, _AuditShape(claim, ENGINE, "claim", "READY", "RUNNING", "worker 0d15ea5e")]

    applies: list[_OpState] = [("done", at, None, at + hist.run_s, 0, None) for at in run_at]
    post: _OpState = ("done", post_start, None, post_end, 0, None)
    tasks = [TaskStatus.SUCCEEDED.value] * n
    current: list[str | None] = [None] * n
    # Tasks an op of theirs failed for good (pipeline.apply_op_failure): FAILED, their current step still
    # naming the last op started for them, which nothing settles again (finish_job leaves a FAILED task).
    failed_for_good: list[int] = []
    rollbacks: list[_OpShape] = []

    def untouched(first: int = 0) -> None:
        """Targets from `first` on never started."""
        for k in range(first, n):
            applies[k], tasks[k] = _PENDING, TaskStatus.SCHEDULED.value

    def event(
        at: int,
        who: str,
        action: str,
        src: str,
        to: Status,
        comment: str | None = None,
        dated: int | None = None,
        after: str = "",
    ) -> None:
        shape.audit.append(_AuditShape(at, who, action, src, to.value, comment, dated, after))
        shape.since = at

    def finish(at: int, src: str = "RUNNING", comment: str | None = None) -> None:
        shape.ended = at
        event(at, ENGINE, "finish", src, status, comment)

    def park(to: Status, action: str, comment: str) -> None:
        nonlocal post
        untouched()
        post = _PENDING
        shape.step = Step.RUN.value
        event(claim, ENGINE, action, "RUNNING", to, comment)

    if status in (Status.FINISHED, Status.PARTIAL, Status.ERROR, Status.ROLLEDBACK):
        shape.run_started = claim
        if status == Status.PARTIAL:
            # A failed target fails only its task; the others go on (seed 003 "Partially Succeeded").
            bad = n - 1
            applies[bad] = ("failed", run_at[bad], None, run_at[bad] + hist.run_s, 1, "exit 1")
            tasks[bad] = TaskStatus.FAILED.value
            failed_for_good = [bad]
        if status == Status.ERROR:
            applies = [("failed", at, None, at + hist.run_s, 2, "exit 2") for at in run_at]
            tasks = [TaskStatus.FAILED.value] * n
            failed_for_good = list(range(n))
        if status != Status.ROLLEDBACK:
            finish(post_end)
        else:
            event(post_end, ENGINE, "finish", "RUNNING", Status.FINISHED)
            at = post_end + 600
            event(at, OPERATOR, "rollback", "FINISHED", Status.ROLLBACK, "customer complaint")
            # An engine takes the job over to run the rollback ops (a claim that keeps its status).
            event(at + 1, ENGINE, "claim", "ROLLBACK", Status.ROLLBACK, "worker 0d15ea5e")
            for offset, k in enumerate(reversed(range(n))):
                begin = at + 1 + 2 * offset
                rollbacks.append(
                    _OpShape(
                        task=k,
                        step=ROLLBACK_STEP,
                        op_index=0,
                        position=ROLLBACK_BASE + offset,
                        name="rollback apply",
                        per_target=True,
                        status="done",
                        started=begin,
                        skipped=None,
                        completed=begin + 2,
                        exit_code=0,
                        rollback=UNDO,
                        rollback_of=k,  # op run k is target k's apply
                    )
                )
            # A manual rollback that completed settles the tasks SUCCEEDED (walker._next_in_rollback): they
            # had done what they were asked, and undone is not failed; the job's status tells the undoing.
            tasks = [TaskStatus.SUCCEEDED.value] * n
            finish(at + 1 + 2 * n, src="ROLLBACK", comment="rollback completed")
    elif status in (Status.CANCELED, Status.ABEND, Status.TRAPPED, Status.TRAP_PAUSED, Status.PAUSED):
        # Something happened while the first target's op ran; later targets and POST never started.
        shape.step, shape.run_started = Step.RUN.value, claim
        untouched(1)
        post = _PENDING
        at = run_at[0] + hist.run_s // 2 + 1
        if status == Status.CANCELED:
            shape.reason = f"canceled by {OPERATOR}"
            # The op the cancel stopped is skipped past, not failed (Actions.cancel_in).
            applies = [("skipped", run_at[0], at, at, None, shape.reason)] + [_skipped(at)] * (n - 1)
            post = _skipped(at)
            tasks = [TaskStatus.CANCELLED.value] * n
            shape.ended = at
            event(at, OPERATOR, "cancel", "RUNNING", status, "wrong change window")
        elif status == Status.ABEND:
            shape.reason = f"op process {40_000 + 97 * n} vanished without an exit status"
            shape.failed_step = Step.RUN.value
            applies[0] = ("failed", run_at[0], None, at, None, shape.reason)
            # Nothing of a job runs after its abend: its ops still to come are skipped, and its tasks that
            # had not ended FAILED (Outcomes.abend).
            applies[1:] = [_skipped(at)] * (n - 1)
            post = _skipped(at)
            tasks = [TaskStatus.FAILED.value] * n
            shape.ended = at
            event(at, ENGINE, "abend", "RUNNING", status, shape.reason)
        elif status == Status.PAUSED:
            at = run_at[0] + hist.run_s
            applies[0] = ("done", run_at[0], None, at, 0, None)
            # The window gate parks the job between two ops (lifecycle.window_gate): the task whose op ran
            # is done, the others wait SCHEDULED as they did (RESCHEDULED is a failed task's wait for its
            # next attempt).
            shape.reason = "schedule window closed"
            event(at, ENGINE, "window closed", "RUNNING", status, shape.reason)
        else:
            applies[0] = ("failed", run_at[0], None, at, 1, "exit 1")
            # Its task waits for the operator, as the job does, on the trapped op (park_trapped_tasks).
            tasks[0], current[0] = TaskStatus.SCHEDULED.value, "apply"
            shape.trap_op = 0
            # The trap names the target whose op failed (Outcomes._after_failure).
            failure = f'RUN op "apply" failed for {hist.targets[0]}: exit 1'
            event(at, ENGINE, "trap", "RUNNING", Status.TRAPPED, failure)
            if status == Status.TRAP_PAUSED:
                shape.trap_left_s = 1500.0
                event(at + 300, OPERATOR, "trap pause", "TRAPPED", status, "looking into it")
    elif status == Status.REPLACED:
        # Its owner submitted the definition again for the same targets before RUN began: the submission
        # ends it, its ops skipped and its tasks CANCELLED (lifecycle.mark_replaced).
        at = 1800
        shape.audit = [submit]
        shape.step, shape.sched, shape.started, shape.ended = Step.END.value, 3600, None, at
        untouched()
        applies, post = [_skipped(at)] * n, _skipped(at)
        tasks = [TaskStatus.CANCELLED.value] * n
        shape.reason = "replaced by a newer submission"
        event(at, OWNER, "replace", "READY", status, shape.reason)
    elif status == Status.REJECTED:
        park(Status.APPROVAL, "await approval", "RUN needs approval")
        at = claim + 900
        applies = [_skipped(at)] * n
        post = ("done", at + 1, None, at + 1 + hist.post_s, 0, None)
        tasks = [TaskStatus.CANCELLED.value] * n
        shape.outcome, shape.step = status.value, Step.END.value
        shape.reason = f"rejected by {OPERATOR}: not this week"
        event(at, OPERATOR, "reject", "APPROVAL", Status.READY, "not this week")
        event(at + 1, ENGINE, "claim", "READY", Status.RUNNING, "worker 0d15ea5e")
        finish(at + 1 + hist.post_s, comment=shape.reason)  # the engine's row says why it ends so
    elif status == Status.EXPIRED:
        park(Status.APPROVAL, "await approval", "RUN needs approval")
        shape.max_start_s = 3600
        shape.reason = "passed Max Start Date"
        # Its pipeline began: the expiry sweep skips RUN and the job runs its POST step, then ends EXPIRED,
        # its tasks CANCELLED (pipeline.expire_through_post), as a rejected job does.
        max_start = shape.max_start_s  # scheduled at its creation
        at = max_start + 1
        applies = [_skipped(at)] * n
        post = ("done", at + 1, None, at + 1 + hist.post_s, 0, None)
        tasks = [TaskStatus.CANCELLED.value] * n
        shape.outcome, shape.step = status.value, Step.END.value
        why = "RUN had not started by Max Start Date "
        event(at, ENGINE, "expire", "APPROVAL", Status.READY, why, dated=max_start, after="; POST runs")
        event(at + 1, ENGINE, "claim", "READY", Status.RUNNING, "worker 0d15ea5e")
        finish(at + 1 + hist.post_s, comment=shape.reason)
    elif status == Status.APPROVAL:
        shape.sched = None
        park(status, "await approval", "RUN needs approval")
    elif status == Status.READY:
        shape.sched, shape.due_future = None, True
        park(status, "wait for schedule", "RUN waits for its scheduled date")
    else:  # pragma: no cover - BULK_STATUSES and this function change together
        raise ValueError(f"no history shape for {status}")

    single = 0 if n == 1 else None  # pipeline.plan_rows: a lone task owns the job-wide ops too
    shape.ops = [
        _OpShape(k, Step.RUN.value, 0, k, "apply", True, *state, rollback=UNDO)
        for k, state in enumerate(applies)
    ]
    shape.ops.append(_OpShape(single, Step.POST.value, 0, n, "notify", False, *post))
    if rollbacks:
        shape.ops = [replace(op, rolled_back=op.step == Step.RUN.value) for op in shape.ops] + rollbacks
    # Every op started for a task, a rollback op too, triggers it again and makes its first attempt
    # (pipeline.mark_op_started): a lone task is triggered by the job-wide ops it owns as well.
    started = [
        sorted(
            (op.started, i, op.name)
            for i, op in enumerate(shape.ops)
            if op.task == k and op.started is not None
        )
        for k in range(n)
    ]
    for k in failed_for_good:
        current[k] = started[k][-1][2]
    shape.tasks = [
        _TaskShape(
            target,
            tasks[k],
            started[k][-1][0] if started[k] else None,
            current[k],
            _task_progress(shape, tasks[k], k, single),
            1 if started[k] else 0,
        )
        for k, target in enumerate(hist.targets)
    ]
    return shape


# The ends whose SUCCEEDED tasks read 100 (pipeline.finish_job): its SUCCESSES, and a completed manual
# rollback, which settles its tasks SUCCEEDED.
_WHOLE_TASK_ENDS = frozenset({*SUCCESSES, Status.ROLLEDBACK})


def _task_progress(shape: _Shape, status: str, k: int, single: int | None) -> int:
    """As the engine counts it: the task's ops done, 100 for a task that succeeded in a job that did."""
    if status == TaskStatus.SUCCEEDED and shape.status in _WHOLE_TASK_ENDS:
        return 100
    mine = [op for op in shape.ops if op.step != ROLLBACK_STEP and (op.task == k or single is not None)]
    done = sum(op.status == OpStatus.DONE.value for op in mine)
    return 100 * done // len(mine) if mine else 0


def _shapes() -> list[_Shape]:
    return [
        _build_shape(hist, status, _definition_json(hist, _VARIANT_OF.get(status, "plain")))
        for hist in HISTORY
        for status in BULK_STATUSES
    ]


# -- the plan: which job gets which shape, when ----------------------------------------------------------


# One job of the load, in the column order of the staging table: id, shape, creation (seconds since the
# epoch), RUN's date for jobs that wait for one, envelope, owner, id of its first task, of its first op
# run. A plain tuple: sqlite3 binds exact tuples fastest.
_Planned = tuple[int, int, int, int | None, int | None, str, int, int]


@dataclass
class _EnvelopePlan:
    id: int
    project: str
    name: str
    first: int  # position of its first job in the load
    size: int
    created: int  # just before its first job


class _Planner:
    """Draws the jobs of the load chunk by chunk; the same seed gives the same jobs."""

    def __init__(
        self, shapes: list[_Shape], count: int, seed: int, now: int, first_ids: Sequence[int]
    ) -> None:
        self.count = count
        self.rng = random.Random(seed)
        self.now = now
        self.next_job, self.next_task, self.next_op, first_envelope = first_ids
        self.start = now - HISTORY_DAYS * 86_400
        self.step = (HISTORY_DAYS - 1) * 86_400 / max(count, 1)
        self.sizes = [(len(s.tasks), len(s.ops)) for s in shapes]
        # (project, status) → the shapes a job of that project in that status may take.
        self.pools: dict[tuple[str, Status], list[int]] = {}
        for i, shape in enumerate(shapes):
            if shape.status == Status.PARTIAL and len(shape.hist.targets) < 2:
                continue  # one target cannot partly succeed
            self.pools.setdefault((shape.hist.project, shape.status), []).append(i)
        self.statuses = list(STATUS_WEIGHTS)
        self.cum_weights = list(itertools.accumulate(STATUS_WEIGHTS.values()))
        n_env = min(5 + count // 20_000, 60) if count >= 10 else 0
        self.envelopes: list[_EnvelopePlan] = []
        for k in range(n_env):
            project = PROJECTS[k % len(PROJECTS)]
            first = k * count // n_env + 1  # never position 0: the load starts with a lone job
            self.envelopes.append(
                _EnvelopePlan(
                    id=first_envelope + k,
                    project=project,
                    name=f"{project}-release-{k + 1:03d}",
                    first=first,
                    size=4 + k % 5,
                    created=int(self.start + first * self.step),
                )
            )
        self._env_at = {
            pos: env for env in self.envelopes for pos in range(env.first, min(env.first + env.size, count))
        }

    def chunks(self, size: int = CHUNK) -> Iterator[list[_Planned]]:
        for begin in range(0, self.count, size):
            yield self.chunk(begin, min(size, self.count - begin))

    def chunk(self, begin: int, n: int) -> list[_Planned]:
        rng = self.rng
        statuses = rng.choices(self.statuses, cum_weights=self.cum_weights, k=n)
        # Every status turns up even in a tiny load: the first jobs take them in turn.
        for pos in range(begin, min(begin + n, len(self.statuses))):
            statuses[pos - begin] = self.statuses[pos]
        projects = rng.choices(PROJECTS, k=n)
        owners = rng.choices(OWNERS, k=n)
        picks = [rng.random() for _ in range(n)]
        jitter = [rng.random() for _ in range(n)]
        pools, sizes, env_at, step = self.pools, self.sizes, self._env_at, self.step
        out: list[_Planned] = []
        job_id, task_id, op_id = self.next_job, self.next_task, self.next_op
        base = self.start + begin * step
        for i in range(n):
            status = statuses[i]
            envelope = env_at.get(begin + i) if env_at else None
            pool = pools[(projects[i] if envelope is None else envelope.project, status)]
            shape = pool[int(picks[i] * len(pool))]
            future = None
            if status in _FUTURE:
                future = self.now + 3600 + int(jitter[i] * 60 * 86_400)
            when = int(base + (i + jitter[i]) * step)
            env_id = None if envelope is None else envelope.id
            out.append((job_id, shape, when, future, env_id, owners[i], task_id, op_id))
            job_id += 1
            tasks, ops = sizes[shape]
            task_id += tasks
            op_id += ops
        self.next_job, self.next_task, self.next_op = job_id, task_id, op_id
        return out


# -- loading --------------------------------------------------------------------------------------------


def bulk_load(
    store: Store,
    count: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    fast: bool | None = None,
) -> int:
    """Insert `count` historical jobs with envelopes, tasks, op runs and audit rows; returns how many.

    `fast` (default: on SQLite) expands the rows inside SQLite; False builds every row in Python and
    inserts it with SQLAlchemy Core, as on other backends. Both write the same rows for the same seed.
    """
    if count < 0:
        raise ValueError("bulk load: the number of jobs must not be negative")
    if count == 0:
        return 0
    use_sqlite = store.is_sqlite if fast is None else fast
    if use_sqlite and not store.is_sqlite:
        raise ValueError("bulk load: the fast path needs SQLite")
    shapes = _shapes()
    now = store.now().in_timezone("UTC")
    if use_sqlite:
        _load_sqlite(store, shapes, count, seed, now, progress)
    else:
        _load_core(store, shapes, count, seed, now, progress)
    return count


def _sqlite_time(when: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores for UTCDateTime's naive UTC value."""
    utc = pendulum.instance(when).in_timezone("UTC")
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"


def _iso(epoch: int) -> str:
    """A time as the engine writes one into a comment (pendulum's isoformat of a UTC time)."""
    return pendulum.from_timestamp(epoch).isoformat()


def _at(epoch: int | None) -> pendulum.DateTime | None:
    return None if epoch is None else pendulum.from_timestamp(epoch)


def _ts(expr: str) -> str:
    # Whole seconds, so the fraction is always zero: the text `_sqlite_time` gives for such a time.
    return f"(datetime({expr}, 'unixepoch') || '.000000')"


def _engine_name() -> str:
    return f"engine@{socket.gethostname()}"


def _who(who: str, engine_name: str) -> str:
    return engine_name if who == ENGINE else who


# -- SQLite: compact rows in, SQL expands them ----------------------------------------------------------

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS bulk_jobs (
    id INTEGER PRIMARY KEY, shape INTEGER, t0 INTEGER, future INTEGER, envelope INTEGER, owner TEXT,
    task0 INTEGER, op0 INTEGER
);
CREATE TEMP TABLE IF NOT EXISTS bulk_shapes (
    shape INTEGER PRIMARY KEY, name TEXT, type TEXT, project TEXT, status TEXT, step TEXT, progress INTEGER,
    natures TEXT, sched INTEGER, max_start INTEGER, started INTEGER, ended INTEGER, since INTEGER,
    run_started INTEGER, due_future INTEGER, approved INTEGER, outcome TEXT, failed INTEGER,
    failed_step TEXT, reason TEXT, trap_op INTEGER, trap_left REAL, definition TEXT, source TEXT
);
CREATE TEMP TABLE IF NOT EXISTS bulk_tasks (
    shape INTEGER, k INTEGER, target TEXT, status TEXT, triggered INTEGER, current_step TEXT,
    progress INTEGER, attempts INTEGER, PRIMARY KEY (shape, k)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS bulk_ops (
    shape INTEGER, k INTEGER, task INTEGER, step TEXT, op_index INTEGER, position INTEGER, name TEXT,
    per_target INTEGER, status TEXT, started INTEGER, skipped INTEGER, completed INTEGER,
    exit_code INTEGER, error TEXT, rollback TEXT, rolled_back INTEGER, rollback_of INTEGER,
    PRIMARY KEY (shape, k)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS bulk_audit (
    shape INTEGER, k INTEGER, job_name TEXT, at INTEGER, who TEXT, action TEXT, from_status TEXT,
    to_status TEXT, comment TEXT, dated INTEGER, after TEXT, PRIMARY KEY (shape, k)
) WITHOUT ROWID;
"""

_JOB_COLUMNS = (
    "id, name, type, project, status, step, progress, natures, owner, system, envelope_id, exec, "
    "created_at, scheduled_at, max_start_at, started_at, ended_at, status_since, run_started_at, due_at, "
    "approved, outcome, failed, failed_step, reason, trap_op_run_id, trap_deadline_at, trap_left_s, "
    "worker_id, lease, definition, source, log_path, seq"
)
_SCHED = "COALESCE(b.future, b.t0 + s.sched)"
# CROSS JOIN keeps the staged jobs as the outer loop, so rows arrive in id order and every B-tree
# (table and indexes alike) grows at its end.
_EXPAND_JOBS = f"""
INSERT INTO main.jobs ({_JOB_COLUMNS})
SELECT b.id, s.name, s.type, s.project, s.status, s.step, s.progress, s.natures, b.owner, 0, b.envelope, 1,
    {_ts("b.t0")}, {_ts(_SCHED)}, {_ts(f"{_SCHED} + s.max_start")}, {_ts("b.t0 + s.started")},
    {_ts("b.t0 + s.ended")}, {_ts("b.t0 + s.since")}, {_ts("b.t0 + s.run_started")},
    {_ts("CASE WHEN s.due_future THEN b.future END")}, s.approved, s.outcome, s.failed, s.failed_step,
    s.reason, b.op0 + s.trap_op, NULL, s.trap_left, NULL, NULL, s.definition, s.source,
    :log_prefix || b.id || '.log', :seq
FROM temp.bulk_jobs b CROSS JOIN temp.bulk_shapes s ON s.shape = b.shape
"""
_EXPAND_TASKS = f"""
INSERT INTO main.tasks (id, job_id, target, position, status, last_triggered_at, current_step, progress,
    attempts, next_attempt_at)
SELECT b.task0 + t.k, b.id, t.target, t.k, t.status, {_ts("b.t0 + t.triggered")}, t.current_step,
    t.progress, t.attempts, NULL
FROM temp.bulk_jobs b CROSS JOIN temp.bulk_tasks t ON t.shape = b.shape
"""
_EXPAND_OPS = f"""
INSERT INTO main.op_runs (id, job_id, task_id, exec, step, op_index, position, name, per_target, status,
    started_at, skipped_at, completed_at, exit_code, error, pid, pid_create_time, host, status_file,
    deadline_at, "rollback", rolled_back, rollback_of)
SELECT b.op0 + o.k, b.id, b.task0 + o.task, 1, o.step, o.op_index, o.position, o.name, o.per_target,
    o.status, {_ts("b.t0 + o.started")}, {_ts("b.t0 + o.skipped")}, {_ts("b.t0 + o.completed")},
    o.exit_code, o.error, NULL, NULL, NULL, NULL, NULL, o.rollback, o.rolled_back, b.op0 + o.rollback_of
FROM temp.bulk_jobs b CROSS JOIN temp.bulk_ops o ON o.shape = b.shape
"""
_EXPAND_AUDIT = f"""
INSERT INTO main.audit (job_id, job_name, at, who, action, from_status, to_status, comment)
SELECT b.id, a.job_name, {_ts("b.t0 + a.at")}, CASE a.who WHEN '{OWNER}' THEN b.owner ELSE a.who END,
    a.action, a.from_status, a.to_status,
    CASE WHEN a.dated IS NULL THEN a.comment
    ELSE a.comment || strftime('%Y-%m-%dT%H:%M:%S+00:00', b.t0 + a.dated, 'unixepoch') || a.after END
FROM temp.bulk_jobs b CROSS JOIN temp.bulk_audit a ON a.shape = b.shape
"""


def _new_envelope_status() -> str:
    """The status the engine stores for an envelope it creates (EnvelopeActions._new_envelope: the column's
    default).

    A stored status is no reading of the jobs but the record `derive_status` reads them with, changed only
    for what the jobs cannot tell (a cancel, a rollback, a corrupt file, a resumed chain, a deleted failed
    job); every reader derives the status from it and the jobs. The jobs' reading stored instead told the
    engine more: ERRORS means "a failed job of it was deleted", and kept the envelope Errors once its failed
    jobs were retried to FINISHED.
    """
    default = ENVELOPES.c.status.default
    assert isinstance(default, ColumnDefault) and default.is_scalar
    return str(default.arg)


def _shape_tables(shapes: list[_Shape], engine_name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The shapes as rows of the staging tables the expansion statements join with."""
    jobs: list[tuple[Any, ...]] = []
    tasks: list[tuple[Any, ...]] = []
    ops: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []
    for i, s in enumerate(shapes):
        h = s.hist
        natures = json.dumps(list(h.natures))
        head = (i, h.name, h.type, h.project, s.status.value, s.step, s.progress, natures, s.sched)
        times = (s.max_start_s, s.started, s.ended, s.since, s.run_started, s.due_future, s.approved)
        rest = (s.outcome, s.failed, s.failed_step, s.reason, s.trap_op, s.trap_left_s, s.definition)
        jobs.append((*head, *times, *rest, _source(h)))
        tasks += [(i, k, *astuple(t)) for k, t in enumerate(s.tasks)]
        ops += [(i, k, *astuple(o)) for k, o in enumerate(s.ops)]
        audit += [
            (
                *(i, k, h.name, a.at, _who(a.who, engine_name)),
                *(a.action, a.from_status, a.to_status, a.comment, a.dated, a.after),
            )
            for k, a in enumerate(s.audit)
        ]
    return {"bulk_shapes": jobs, "bulk_tasks": tasks, "bulk_ops": ops, "bulk_audit": audit}


def _load_sqlite(
    store: Store,
    shapes: list[_Shape],
    count: int,
    seed: int,
    now: pendulum.DateTime,
    progress: Callable[[int], None] | None,
) -> None:
    assert store.db_path is not None
    # Writers on this host (an engine, the app) queue on the store's lock file, as they do for each
    # other, instead of spinning in SQLite's busy handler while the load holds the database.
    lock_fd = store.take_writer_lock()
    assert lock_fd is not None  # a SQLite store always has its lock file
    conn = sqlite3.connect(str(store.db_path), isolation_level=None, timeout=60)
    try:
        # Only this connection, only for the load: its rows come back by loading again, so an fsync
        # per commit and checkpoint would buy nothing.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.executescript(_STAGING)
        for table, rows in _shape_tables(shapes, _engine_name()).items():
            conn.executemany(f"INSERT INTO temp.{table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Per-row count triggers would cost a fifth of the load: drop them, count once at the end.
            # Writers on this host wait on our lock meanwhile; if the load dies, the next Store puts the
            # triggers back and recounts (Store._heal_counts).
            for statement in counts.DROP_TRIGGERS:
                conn.execute(statement)
            _fill_sqlite(conn, store, shapes, count, seed, now, progress)
            for statement in (counts.CREATE_TABLE, *counts.CREATE_TRIGGERS, *counts.RECOUNT):
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            # A failed load keeps the transactions it committed: whole jobs, each with its tasks, op
            # runs and audit rows, and a change for viewers.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        # Hand back the disk space of the WAL, which grew to one transaction's worth of pages.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
        os.close(lock_fd)


def _fill_sqlite(
    conn: sqlite3.Connection,
    store: Store,
    shapes: list[_Shape],
    count: int,
    seed: int,
    now: pendulum.DateTime,
    progress: Callable[[int], None] | None,
) -> None:
    first = [
        int(conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM main.{table}").fetchone()[0])
        for table in ("tasks", "op_runs", "envelopes")
    ]
    first.insert(0, int(conn.execute(NEVER_REUSED).fetchone()[0]))  # no deleted job's id
    planner = _Planner(shapes, count, seed, int(now.timestamp()), first)
    status = _new_envelope_status()
    conn.executemany(
        "INSERT INTO main.envelopes (id, name, project, status, reason, created_at) "
        "VALUES (?, ?, ?, ?, NULL, ?)",
        [
            (e.id, e.name, e.project, status, _sqlite_time(pendulum.from_timestamp(e.created)))
            for e in planner.envelopes
        ],
    )
    params: dict[str, Any] = {"log_prefix": str(store.log_dir / "job-")}
    done = next_commit = 0
    for chunk in planner.chunks():
        if done >= next_commit:
            if done:
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
            next_commit = done + COMMIT_EVERY
            # Viewers refresh when the feed moves: one change per transaction, and its jobs carry it.
            params["seq"] = conn.execute(
                "INSERT INTO main.changes (job_id, kind, at) VALUES (NULL, 'bulk', ?)", (_sqlite_time(now),)
            ).lastrowid
        conn.execute("DELETE FROM temp.bulk_jobs")
        conn.executemany("INSERT INTO temp.bulk_jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk)
        for statement in (_EXPAND_JOBS, _EXPAND_TASKS, _EXPAND_OPS, _EXPAND_AUDIT):
            conn.execute(statement, params if statement is _EXPAND_JOBS else {})
        done += len(chunk)
        if progress is not None:
            progress(done)


# -- other backends: the same rows, built in Python ----------------------------------------------------


def _load_core(
    store: Store,
    shapes: list[_Shape],
    count: int,
    seed: int,
    now: pendulum.DateTime,
    progress: Callable[[int], None] | None,
) -> None:
    engine_name = _engine_name()
    with store.write() as s:
        postgres = s.get_bind().dialect.name == "postgresql"
        if postgres:
            # The load hands out ids itself, so nobody may take one from the sequences meanwhile.
            s.execute(text("LOCK TABLE jobs, tasks, op_runs, envelopes IN EXCLUSIVE MODE"))
        first = [
            int(s.execute(select(func.coalesce(func.max(column), 0) + 1)).scalar_one())
            for column in (JOBS.c.id, TASKS.c.id, OP_RUNS.c.id, ENVELOPES.c.id, AUDIT.c.job_id)
        ]
        first[0] = max(first[0], first.pop())  # no deleted job's id (store.NEVER_REUSED)
        planner = _Planner(shapes, count, seed, int(now.timestamp()), first)
        if planner.envelopes:
            status = _new_envelope_status()
            s.execute(
                insert(ENVELOPES),
                [
                    {
                        "id": e.id,
                        "name": e.name,
                        "project": e.project,
                        "status": status,
                        "reason": None,
                        "created_at": _at(e.created),
                    }
                    for e in planner.envelopes
                ],
            )
        seq = int(
            s.execute(
                insert(CHANGES).values(job_id=None, kind="bulk", at=now).returning(CHANGES.c.seq)
            ).scalar_one()
        )
        done = 0
        for chunk in planner.chunks():
            rows = _core_rows(store, shapes, chunk, seq, engine_name)
            for table, table_rows in zip((JOBS, TASKS, OP_RUNS, AUDIT), rows, strict=True):
                if table_rows:
                    s.execute(insert(table), table_rows)
            done += len(chunk)
            if progress is not None:
                progress(done)
        if postgres:
            for name in ("jobs", "tasks", "op_runs", "envelopes"):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                    )
                )


_Rows = list[dict[str, Any]]


def _core_rows(
    store: Store, shapes: list[_Shape], chunk: list[_Planned], seq: int, engine_name: str
) -> tuple[_Rows, _Rows, _Rows, _Rows]:
    jobs: _Rows = []
    tasks: _Rows = []
    ops: _Rows = []
    audit: _Rows = []
    for job_id, index, t0, future, envelope, owner, task0, op0 in chunk:
        shape = shapes[index]
        hist = shape.hist

        def at(offset: int | None, t0: int = t0) -> pendulum.DateTime | None:
            return None if offset is None else _at(t0 + offset)

        sched = future if future is not None else t0 + (shape.sched or 0)
        jobs.append(
            {
                "id": job_id,
                "name": hist.name,
                "type": hist.type,
                "project": hist.project,
                "status": shape.status.value,
                "step": shape.step,
                "progress": shape.progress,
                "natures": json.dumps(list(hist.natures)),
                "owner": owner,
                "system": False,
                "envelope_id": envelope,
                "exec": 1,
                "created_at": _at(t0),
                "scheduled_at": _at(sched),
                "max_start_at": _at(sched + shape.max_start_s),
                "started_at": at(shape.started),
                "ended_at": at(shape.ended),
                "status_since": at(shape.since),
                "run_started_at": at(shape.run_started),
                "due_at": _at(future) if shape.due_future else None,
                "approved": shape.approved,
                "outcome": shape.outcome,
                "failed": shape.failed,
                "failed_step": shape.failed_step,
                "reason": shape.reason,
                "trap_op_run_id": None if shape.trap_op is None else op0 + shape.trap_op,
                "trap_deadline_at": None,
                "trap_left_s": shape.trap_left_s,
                "worker_id": None,
                "lease": None,
                "definition": shape.definition,
                "source": _source(hist),
                "log_path": str(store.log_dir / f"job-{job_id}.log"),
                "seq": seq,
            }
        )
        for k, t in enumerate(shape.tasks):
            tasks.append(
                {
                    "id": task0 + k,
                    "job_id": job_id,
                    "target": t.target,
                    "position": k,
                    "status": t.status,
                    "last_triggered_at": at(t.triggered),
                    "current_step": t.current_step,
                    "progress": t.progress,
                    "attempts": t.attempts,
                    "next_attempt_at": None,
                }
            )
        for k, o in enumerate(shape.ops):
            ops.append(
                {
                    "id": op0 + k,
                    "job_id": job_id,
                    "task_id": None if o.task is None else task0 + o.task,
                    "exec": 1,
                    "step": o.step,
                    "op_index": o.op_index,
                    "position": o.position,
                    "name": o.name,
                    "per_target": o.per_target,
                    "status": o.status,
                    "started_at": at(o.started),
                    "skipped_at": at(o.skipped),
                    "completed_at": at(o.completed),
                    "exit_code": o.exit_code,
                    "error": o.error,
                    "pid": None,
                    "pid_create_time": None,
                    "host": None,
                    "status_file": None,
                    "deadline_at": None,
                    "rollback": o.rollback,
                    "rolled_back": o.rolled_back,
                    "rollback_of": None if o.rollback_of is None else op0 + o.rollback_of,
                }
            )
        for a in shape.audit:
            audit.append(
                {
                    "job_id": job_id,
                    "job_name": hist.name,
                    "at": _at(t0 + a.at),
                    "who": owner if a.who == OWNER else _who(a.who, engine_name),
                    "action": a.action,
                    "from_status": a.from_status,
                    "to_status": a.to_status,
                    "comment": a.comment if a.dated is None else f"{a.comment}{_iso(t0 + a.dated)}{a.after}",
                }
            )
    return jobs, tasks, ops, audit
