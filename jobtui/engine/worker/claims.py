"""Claiming due jobs (and rollbacks left without an engine) for free slots, and handing held jobs
back when the engine stops (or, one by one, when an op claimed ahead waits too long for a slot)."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime

import pendulum
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Job, OpRun
from jobtui.engine.db.raw import AUDIT_ROWS, execute_many, index_hint, rows
from jobtui.engine.db.store import LeaseLost
from jobtui.engine.domain.states import OpStatus, Status
from jobtui.engine.worker import pipeline
from jobtui.engine.worker.slots import SlotHandle
from jobtui.engine.worker.state import EngineState, Held

# What an engine claims. The status lists are literals, matching the partial indexes (migration 0005)
# that keep a claim's cost independent of how long the queue is.
_DUE_TO_RUN = "status IN ('READY', 'PAUSED') AND due_at <= :now"
_ORPHAN_ROLLBACK = "status = 'ROLLBACK' AND worker_id IS NULL"

# Whether the queue is paused, when the next job falls due, whether a rollback waits for an engine.
_LOOK = (
    "SELECT (SELECT value FROM settings WHERE key = 'queue_paused') AS paused, "
    "(SELECT min(due_at) FROM jobs WHERE status IN ('READY', 'PAUSED')) AS next_due, "
    f"EXISTS (SELECT 1 FROM jobs WHERE {_ORPHAN_ROLLBACK}) AS rollbacks"
)


class Claimer:
    """Claims jobs for an engine's free slots, and remembers when the next job falls due."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        # When the next job falls due, as of the last look; None when there was nothing to wake for.
        self.next_due: datetime | None = None
        self._rollbacks = False  # the last look saw a rollback waiting for an engine
        self._looked_in: Session | None = None  # the write transaction the last look was in, if any

    def look(self, now: pendulum.DateTime, free: int, s: Session | None = None) -> bool:
        """Whether a claim may find a job for `free` slots: the queue runs and a job is due (or a
        rollback waits for an engine). Without `s`, a look, not a lock: an idle engine must not queue
        behind busy ones. One statement, as every daemon looks whenever any transaction on the queue
        commits. With `s`, inside a pass's write transaction already open for other work: the claim
        that follows needs no second look at the pause flag."""
        self.next_due = None  # nothing to wake for while every slot is busy or the queue is paused
        self._rollbacks = False
        self._looked_in = s
        if free <= 0:
            return False
        if s is not None:
            (found,) = rows(s, _LOOK, {}, ("next_due",))
        else:
            with self.state.store.read() as read:
                (found,) = rows(read, _LOOK, {}, ("next_due",))
        paused, next_due, rollbacks = found["paused"], found["next_due"], found["rollbacks"]
        if paused is not None and json.loads(paused):
            return False
        self.next_due = _as_utc(next_due)
        self._rollbacks = bool(rollbacks)
        return bool(rollbacks) or (self.next_due is not None and self.next_due <= now)

    def claim_in(self, s: Session, now: pendulum.DateTime, free: int) -> list[Held]:
        """Inside the pass's write transaction: claim up to `free` jobs; the engine holds them from now
        (the caller forgets them if the transaction fails)."""
        state = self.state
        if self._looked_in is not s and pipeline.queue_paused(state.store, s):
            return []
        lease = state.new_lease()
        claimed = _claim_rows(state, s, now, free, lease, self._rollbacks)
        if claimed:
            execute_many(
                s,
                AUDIT_ROWS,
                [
                    {
                        "job_id": job_id,
                        "job_name": name,
                        "at": now,
                        "who": state.who,
                        "action": "claim",
                        "from_status": src,
                        "to_status": status,
                        "comment": f"worker {state.worker_id[:8]}",
                        "refused": False,
                        "by_user": None,
                    }
                    for job_id, name, src, status in claimed
                ],
            )
        held = [Held(job_id, lease) for job_id, _, _, _ in claimed]
        for one in held:
            state.held[one.job_id] = one
        return held


def _claim_rows(
    state: EngineState, s: Session, now: pendulum.DateTime, limit: int, lease: str, rollbacks: bool
) -> list[tuple[int, str, str, str]]:
    """(id, name, status before, status after) of the jobs claimed; no job is ever claimed twice.

    Rollbacks left without an engine first, then due jobs in due order: each its own statement, so
    each walks its own index instead of sorting the whole queue at every claim.
    """
    claimed: list[tuple[int, str, str, str]] = []
    for where, order in _PICKS:
        if where is _ORPHAN_ROLLBACK and not rollbacks:
            continue
        want = limit - len(claimed)
        if want <= 0:
            break
        claimed += _claim_where(state, s, where, order, now, want, lease)
    return claimed


# What a claim takes, in this order, and how it orders each; on SQLite, the index each walks: the
# rollbacks among the ROLLBACK jobs (not every ended job by `worker_id IS NULL`: raw.index_hint).
_PICKS = ((_ORPHAN_ROLLBACK, "id"), (_DUE_TO_RUN, "due_at, id"))
_SQLITE_INDEX = {_ORPHAN_ROLLBACK: "ix_jobs_status_due"}


def _claim_where(
    state: EngineState, s: Session, where: str, order: str, now: pendulum.DateTime, limit: int, lease: str
) -> list[tuple[int, str, str, str]]:
    params = {"now": now, "w": state.worker_id, "lease": lease, "n": limit}
    # Each claimed job's change-feed row and its seq are written with the claim (Store.touch).
    take = (
        "UPDATE jobs SET status = CASE WHEN {was} = 'ROLLBACK' THEN {was} ELSE 'RUNNING' END, "
        "worker_id = :w, lease = :lease, due_at = NULL, status_since = :now, seq = {seq} "
    )
    if not state.store.is_sqlite:
        # One statement: the rows are locked as they are picked, and engines on other hosts skip them.
        taken = rows(
            s,
            f"WITH due AS (SELECT id, status FROM jobs WHERE {where} ORDER BY {order} "
            "LIMIT :n FOR UPDATE SKIP LOCKED), "
            "feed AS (INSERT INTO changes (job_id, kind, at) SELECT id, 'job', :now FROM due ORDER BY id "
            "RETURNING seq, job_id) "
            + take.format(was="due.status", seq="feed.seq")
            + "FROM due JOIN feed ON feed.job_id = due.id WHERE jobs.id = due.id "
            "RETURNING jobs.id, jobs.name, due.status AS was, jobs.status, feed.seq",
            params,
        )
        state.store.note_touched(s, {int(r["id"]): int(r["seq"]) for r in taken})
        return sorted((int(r["id"]), str(r["name"]), str(r["was"]), str(r["status"])) for r in taken)
    # SQLite cannot return the FROM table's columns; this transaction holds the only write lock, so
    # looking first and updating after is just as safe.
    hint = index_hint(s, _SQLITE_INDEX[where]) if where in _SQLITE_INDEX else ""
    due = [
        (int(r["id"]), str(r["name"]), str(r["status"]))
        for r in rows(
            s, f"SELECT id, name, status FROM jobs{hint} WHERE {where} ORDER BY {order} LIMIT :n", params
        )
    ]
    if not due:
        return []
    seqs = state.store.touch_many(s, [job_id for job_id, _, _ in due])
    execute_many(
        s,
        take.format(was="status", seq=":seq") + "WHERE id = :id",
        [{**params, "id": job_id, "seq": seqs[job_id]} for job_id, _, _ in due],
    )
    claimed = []
    for job_id, name, was in sorted(due):
        after = was if was == Status.ROLLBACK.value else Status.RUNNING.value
        claimed.append((int(job_id), str(name), str(was), after))
    return claimed


STOPPED = "before the engine stopped"


def hand_back(state: EngineState) -> None:
    """Hand back the jobs held between ops, and those whose op still waits for a slot (taken back from the
    queue: it never starts, and goes back to pending for the next engine to start); ops running keep
    running for a later engine."""
    for held in list(state.held.values()):
        # Taken back from the slots' queue already (its hand-back not committed yet): it never started.
        withdrawn = held.withdrawn or (isinstance(held.handle, SlotHandle) and held.handle.withdraw())
        if held.handle is not None and not withdrawn:
            continue
        with contextlib.suppress(LeaseLost), state.store.write() as s:
            job = s.get(Job, held.job_id)
            if job is not None and job.lease == held.lease:
                if withdrawn:
                    _unstart(state, s, job, held)
                to = Status.READY if job.status == Status.RUNNING else Status(job.status)
                state.store.change_job(
                    s,
                    job,
                    state.who,
                    "release",
                    to,
                    comment="engine stopped",
                    held=held.lease,
                    worker_id=None,
                    lease=None,
                    due_at=state.store.now(),
                )
        state.forget_held(held.job_id)


def _unstart(state: EngineState, s: Session, job: Job, held: Held, why: str = STOPPED) -> None:
    """The op recorded as started never was (it waited for a slot): pending again, as a take-over makes an
    op its engine died before spawning (sweeps)."""
    op_run = s.get(OpRun, held.op_run_id) if held.op_run_id else None
    if op_run is None or op_run.status != OpStatus.RUNNING.value:
        return
    op_run.status = OpStatus.PENDING.value
    op_run.started_at = None
    s.add(op_run)
    state.log(job, f"op {op_run.name} never started {why}; handed back")


def hand_back_waiting(state: EngineState, s: Session, held: Held, waited_s: float) -> None:
    """Inside a pass's transaction: hand back a job whose op, claimed ahead of the free slots after a burst
    of short ops, has waited `waited_s` for a slot behind ops that last. It read RUNNING, with a start
    date and a step started, while nothing of it ran: back in the queue (READY, due now) for whichever
    engine has a slot first."""
    job = s.get(Job, held.job_id)
    if job is None or job.lease != held.lease:
        state.forget_held(held.job_id)
        return
    why = f"in {waited_s:.0f} s waiting for a worker slot"
    _unstart(state, s, job, held, why)
    s.flush()  # the op pending again before the tasks are parked by what is left of theirs
    pipeline.park_running_tasks(s, job)
    # Its step and dates stay as they are, as when an engine stops: RUN's gate, once passed, is not asked
    # again (it could expire a job whose RUN began), and retries keep their count.
    state.store.change_job(
        s,
        job,
        state.who,
        "release",
        Status.READY if job.status == Status.RUNNING else Status(job.status),
        comment=f"waited {waited_s:.0f} s for a worker slot behind ops still running: back in the queue",
        held=held.lease,
        worker_id=None,
        lease=None,
        due_at=state.store.now(),
    )
    state.let_go_at_commit(s, held.job_id)


def _as_utc(value: datetime | None) -> pendulum.DateTime | None:
    return None if value is None else pendulum.instance(value).in_timezone("UTC")
