"""The engine's worker row: registering it, heartbeating it, marking it stopped."""

from __future__ import annotations

import os

import pendulum
import psutil
from sqlalchemy import text
from sqlmodel import Session

from jobtui.engine.db.models import Worker
from jobtui.engine.worker.state import EngineState, timed

# An engine of another host silent this long no longer counts as sharing the queue (it crashed, and was or
# will be taken over).
OTHER_HOSTS_SILENT_S = 120.0


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
                started_at=now,
                heartbeat_at=now,
            )
        )
        state.other_hosts = _other_hosts(state, s)
    return now


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


def mark_stopped(state: EngineState) -> None:
    """Set the worker row's stopped_at, unless it already is."""
    with state.store.write() as s:
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
