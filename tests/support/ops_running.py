"""Waiting for an op to be running under the engine."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from jobtui.engine.db.models import OpRun
from jobtui.engine.db.store import Store
from jobtui.engine.worker.loop import Engine


def running_op(store: Store, job_id: int, op_index: int | None = None) -> OpRun | None:
    """The job's op running with its pid recorded; the `op_index`th op of its step only, when given (an
    op before it may read running for a moment on a busy machine, its end not yet recorded)."""
    query = select(OpRun).where(OpRun.job_id == job_id, OpRun.status == "running", OpRun.pid != None)  # noqa: E711
    if op_index is not None:
        query = query.where(OpRun.op_index == op_index)
    with store.read() as s:
        return s.scalars(query).first()


def wait_op_started(engine: Engine, store: Store, job_id: int) -> OpRun:
    engine.run_until(lambda: running_op(store, job_id) is not None)
    op = running_op(store, job_id)
    assert op is not None and op.pid is not None
    return op


def log_holds(store: Store, job_id: int, text: bytes) -> Callable[[], bool]:
    """Whether the job's log, as readers get it from the database, holds `text` yet (for `run_until`)."""
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.reads import Reads

    reads = Reads(store, Actor("tester"))
    return lambda: text in reads.log_end(job_id, 1 << 20).data
