"""The engine's worker row: registering it, heartbeating it, marking it stopped."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pendulum
import psutil
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from jobtui.engine.db.models import OpRun, Worker
from jobtui.engine.domain.processes import start_of
from jobtui.engine.domain.states import OpStatus
from jobtui.engine.worker.opjournal import journal_worker
from jobtui.engine.worker.opstarter import STATUS_MARK
from jobtui.engine.worker.state import EngineState, timed

# An engine of another host silent this long no longer counts as sharing the queue (it crashed, and was or
# will be taken over).
OTHER_HOSTS_SILENT_S = 120.0
# An engine silent this long keeps its status journals no longer (unless a running op still names them).
JOURNAL_KEPT_SILENT_S = 86_400.0


def register(state: EngineState) -> pendulum.DateTime:
    """Add the worker row; returns when, which counts as its first heartbeat."""
    now = state.store.now()
    with state.store.write() as s:
        s.add(
            Worker(
                id=state.worker_id,
                host=state.host,
                pid=os.getpid(),
                slots=state.slots,
                pid_create_time=psutil.Process().create_time(),
                pid_start=start_of(os.getpid()),
                kind=state.kind,
                started_at=now,
                heartbeat_at=now,
            )
        )
        state.other_hosts = _other_hosts(state, s)
    return now


def prune_journals(state: EngineState) -> list[Path]:
    """Delete the status journals nobody will read again: of an engine that stopped (or fell silent a day
    ago), named by no op still running (a take-over reads an op's status only while it is recorded as
    running). Their lines are of ops whose end is recorded; the journals removed."""
    journals = [path for path in Path(state.log_dir).glob("ops-*.status") if journal_worker(path.name)]
    if not journals:
        return []
    now = state.store.now()
    with state.store.read() as s:
        workers = {worker.id: worker for worker in s.scalars(select(Worker)).all()}
        running = s.scalars(
            select(OpRun.status_file).where(
                OpRun.status == OpStatus.RUNNING.value, OpRun.status_file.contains(STATUS_MARK)
            )
        ).all()
    named = {ref.rpartition(STATUS_MARK)[0] for ref in running if ref}
    removed = []
    for journal in journals:
        worker = workers.get(journal_worker(journal.name))
        live = (
            worker is not None
            and worker.stopped_at is None
            and (
                (now - pendulum.instance(worker.heartbeat_at or now)).total_seconds() < JOURNAL_KEPT_SILENT_S
            )
        )
        if live or str(journal) in named:
            continue
        with contextlib.suppress(OSError):
            journal.unlink()
            removed.append(journal)
    return removed


def heartbeat(state: EngineState, now: pendulum.DateTime) -> None:
    with state.store.write(walking=True) as s:
        s.execute(
            timed(text("UPDATE workers SET heartbeat_at = :now WHERE id = :id"), "now"),
            {"now": now, "id": state.worker_id},
        )
        state.other_hosts = _other_hosts(state, s)


def _other_hosts(state: EngineState, s: Session) -> bool:
    """Whether an engine of another host shares the queue: registered, not stopped, heard of lately."""
    since = state.store.now().subtract(seconds=OTHER_HOSTS_SILENT_S)
    found = s.execute(
        timed(
            text(
                "SELECT 1 FROM workers WHERE host <> :host AND stopped_at IS NULL AND heartbeat_at >= :since "
                "LIMIT 1"
            ),
            "since",
        ),
        {"host": state.host, "since": since},
    ).first()
    return found is not None


def mark_stopping(state: EngineState) -> None:
    """Set the worker row's stopping_at: it claims nothing from now on, its ops in flight finishing. A
    dashboard then counts it as serving the queue no more (and runs its own engine)."""
    with state.store.write() as s:
        stopping = text("UPDATE workers SET stopping_at = :now WHERE id = :id AND stopping_at IS NULL")
        s.execute(timed(stopping, "now"), {"now": state.store.now(), "id": state.worker_id})


def mark_stopped(state: EngineState, lock_wait_s: float | None = None) -> None:
    """Set the worker row's stopped_at, unless it already is. `lock_wait_s`: give up after so long behind
    another process's write lock (a process on its way out)."""
    with state.store.write(lock_wait_s=lock_wait_s) as s:
        worker = s.get(Worker, state.worker_id)
        if worker is not None and worker.stopped_at is None:
            worker.stopped_at = state.store.now()
            s.add(worker)


def mark_stopped_unless_running(state: EngineState) -> None:
    """Set the worker row's stopped_at when none of its ops runs on (they keep its row alive)."""
    with state.store.write() as s:
        worker = s.get(Worker, state.worker_id)
        if worker is not None and not any(h.handle for h in state.held.values()):
            worker.stopped_at = state.store.now()
            s.add(worker)
