"""Setting up jobs in every status, performing actions and reading their audit, for the transition tests."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from jobtui.engine.db.models import OpRun
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.states import (
    OpStatus,
    Status,
    is_allowed_transition,
)
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, run_until_status, status_of


def plain_def(project: str = "default", name: str = "j") -> str:
    return f'name = "{name}"\nproject = "{project}"\n[[run]]\nrun = "true"\n'


def approval_def(project: str = "default", approvers: str = "", pre: bool = False, post: bool = False) -> str:
    body = f'name = "gated"\nproject = "{project}"\napproval = true\n'
    if approvers:
        body += f"approvers = {approvers}\n"
    if pre:
        body += '[[pre]]\nname = "prepare"\nrun = "true"\n'
    body += '[[run]]\nname = "deploy"\nrun = "true"\n'
    if post:
        body += '[[post]]\nname = "notify"\nrun = "true"\n'
    return body


def snapshot(store: Store) -> dict[str, Any]:
    """Every row of every table, plus the log directory's files: what 'unchanged' means. The audit rows
    of refusals are left out: a refused action changes nothing but leaves that record (tests of the
    refusal records check them)."""
    rows: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for table, sql in _table_reads(conn).items():
            rows[table] = [tuple(r) for r in conn.execute(text(sql))]
    rows["log files"] = {p.name: p.read_bytes() for p in sorted(store.log_dir.iterdir())}
    return rows


# Every test database is at the schema's head: the tables and their keys are looked up once a backend
# (reflection costs PostgreSQL tens of catalog queries, and a test takes dozens of snapshots).
_TABLE_READS: dict[str, dict[str, str]] = {}


def _table_reads(conn: Connection) -> dict[str, str]:
    """Table → the SELECT that reads all its rows in a stable order."""
    backend = conn.dialect.name
    if backend not in _TABLE_READS:
        inspector = sa_inspect(conn)
        reads = {}
        for table in sorted(inspector.get_table_names()):
            keys = inspector.get_pk_constraint(table)["constrained_columns"] or ["1"]
            order = ", ".join(f'"{k}"' if k != "1" else k for k in keys)
            where = " WHERE NOT refused" if table == "audit" else ""
            reads[table] = f'SELECT * FROM "{table}"{where} ORDER BY {order}'
        _TABLE_READS[backend] = reads
    return _TABLE_READS[backend]


def query(store: Store, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Raw SQL with ? placeholders, on whichever backend the store uses."""
    numbered = sql
    values: dict[str, object] = {}
    for n, value in enumerate(params):
        numbered = numbered.replace("?", f":p{n}", 1)
        values[f"p{n}"] = value
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(numbered), values)]


def audit_rows(store: Store, job_id: int, after: int = 0) -> list[tuple[Any, ...]]:
    """(id, who, action, from_status, to_status, comment) of a job's audit rows after row `after`: what
    was done to it (refusals, which change nothing, are left out)."""
    return query(
        store,
        "SELECT id, who, action, from_status, to_status, comment FROM audit "
        "WHERE job_id = ? AND id > ? AND NOT refused ORDER BY id",
        job_id,
        after,
    )


def assert_audit_within_table(store: Store) -> None:
    """Every status move ever audited is a move the transition table allows."""
    rows = query(
        store,
        "SELECT id, action, from_status, to_status FROM audit "
        "WHERE from_status IS NOT NULL AND to_status IS NOT NULL",
    )
    bad = [row for row in rows if not is_allowed_transition(Status(row[2]), Status(row[3]))]
    assert bad == [], f"audited moves outside the transition table: {bad}"


@dataclass
class Jobs:
    """Builds a job in any status, by driving the engine when it can get there."""

    store: Store
    engine: Engine
    clock: FakeClock
    actions: Actions
    tmp: Path

    @property
    def go(self) -> Path:
        return self.tmp / "go"

    def submit(self, body: str, **kwargs: str) -> int:
        # Setup builds independent jobs; replacement of same-definition jobs has its own tests.
        return self.actions.submit(definition(body), keep=True, **kwargs)

    def run(self, body: str, *statuses: Status, **kwargs: str) -> int:
        job_id = self.submit(body, **kwargs)
        run_until_status(self.engine, job_id, *statuses)
        return job_id

    def running(self, project: str = "default") -> tuple[int, int]:
        """A job whose RUN op is executing now; returns (job id, op process group)."""
        job_id = self.submit(waiting_def(self.go, project))
        self.engine.run_until(lambda: running_pid(self.store, job_id) is not None)
        assert status_of(self.store, job_id) == Status.RUNNING
        pid = running_pid(self.store, job_id)
        assert pid is not None
        return job_id, pid

    def in_status(self, status: Status, project: str = "default") -> int:
        if status == Status.READY:
            return self.submit(plain_def(project))
        if status == Status.APPROVAL:
            return self.run(approval_def(project), Status.APPROVAL)
        if status == Status.RUNNING:
            return self.running(project)[0]
        if status == Status.TRAPPED:
            return self.run(trap_def(project), Status.TRAPPED)
        if status == Status.TRAP_PAUSED:
            job_id = self.run(trap_def(project), Status.TRAPPED)
            self.actions.trap(job_id, "pause")
            return job_id
        if status == Status.EXPIRED:
            # Submitted an hour ago with one minute to start (a Max Start Date already past is refused at
            # submission): expires on the engine's next pass.
            now = self.clock.now()
            self.clock.set(now.subtract(hours=1))
            job_id = self.submit(plain_def(project), max_start="+1m")
            self.clock.set(now)
            self.engine.tick()
            assert status_of(self.store, job_id) == Status.EXPIRED
            return job_id
        if status == Status.REJECTED:
            job_id = self.run(approval_def(project), Status.APPROVAL)
            self.actions.reject(job_id)
            return job_id
        if status == Status.FINISHED:
            return self.run(small_def(project), Status.FINISHED)
        if status == Status.ERROR:
            return self.run(failing_def(project), Status.ERROR)
        if status == Status.PARTIAL:
            return self.run(partial_def(project), Status.PARTIAL)
        if status == Status.CANCELED:
            job_id = self.submit(plain_def(project))
            self.actions.cancel(job_id)
            return job_id
        if status == Status.ROLLEDBACK:
            job_id = self.run(small_def(project), Status.FINISHED)
            self.actions.rollback(job_id)
            run_until_status(self.engine, job_id, Status.ROLLEDBACK)
            return job_id
        if status == Status.ABEND:
            # The op's whole group is killed by SIGKILL: the engine finds it gone without an exit status.
            job_id, pgid = self.running(project)
            os.killpg(pgid, signal.SIGKILL)
            run_until_status(self.engine, job_id, Status.ABEND)
            return job_id
        # PAUSED needs schedule windows, REPLACED a newer submission, ROLLBACK a rollback in flight.
        job_id = self.submit(plain_def(project))
        force_status(self.store, job_id, status)
        return job_id


def perform(actions: Actions, action: str, job_id: int, comment: str | None = None) -> None:
    """Do `action` the way the dashboard and the CLI do it."""
    if action == "approve":
        actions.approve(job_id, comment)
    elif action == "reject":
        actions.reject(job_id, comment)
    elif action == "cancel":
        actions.cancel(job_id, comment)
    elif action == "delete":
        actions.delete(job_id)
    elif action == "rerun":
        actions.rerun(job_id, "PRE", comment=comment)
    elif action == "reschedule":
        actions.reschedule(job_id, "+2h")
    elif action == "rollback":
        actions.rollback(job_id, comment)
    elif action == "retry":
        actions.retry(job_id)
    elif action.startswith("trap_"):
        actions.trap(job_id, action.removeprefix("trap_"), comment)
    else:
        raise AssertionError(f"no way to perform {action}")


def failing_def(project: str = "default", name: str = "failing") -> str:
    """RUN fails after a PRE op that declares a rollback command."""
    return (
        f'name = "{name}"\nproject = "{project}"\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\nrollback = "true"\n'
        '[[run]]\nname = "deploy"\nrun = "false"\n'
    )


def small_def(project: str = "default", name: str = "small") -> str:
    """One RUN op that writes to its log (so the job has a log file) and declares a rollback command."""
    return (
        f'name = "{name}"\nproject = "{project}"\n[[run]]\nname = "deploy"\nrun = "echo deployed"\n'
        'rollback = "true"\n'
    )


def partial_def(project: str = "default") -> str:
    return (
        f'name = "partial"\nproject = "{project}"\ntargets = ["a", "b"]\n'
        '[[run]]\nname = "deploy"\nper_target = true\n'
        'run = \'test "$JOBTUI_TARGET" = a\'\nrollback = "true"\n'
    )


def trap_def(project: str = "default") -> str:
    return (
        f'name = "trap"\nproject = "{project}"\n[[run]]\nname = "flaky"\nrun = "false"\non_error = "trap"\n'
    )


def waiting_def(go: Path, project: str = "default", name: str = "waiting") -> str:
    """A RUN op that runs until the file `go` exists (after a PRE op with a rollback command)."""
    return (
        f'name = "{name}"\nproject = "{project}"\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\nrollback = "true"\n'
        f'[[run]]\nname = "wait"\nrun = \'{WAIT_OP}\'\nenv = {{ GO = "{go}" }}\n'
    )


def force_status(store: Store, job_id: int, status: Status) -> None:
    """Test setup: put a job in a status without going through the engine or an action."""
    with store.write() as s:
        s.execute(text("UPDATE jobs SET status = :st WHERE id = :id"), {"st": status.value, "id": job_id})


def running_pid(store: Store, job_id: int) -> int | None:
    """The process group of the job's "wait" op while it runs."""
    for op in op_runs(store, job_id):
        if op.name == "wait" and op.status == OpStatus.RUNNING and op.pid:
            return op.pid
    return None


WAIT_OP = 'while [ ! -f "$GO" ]; do sleep 0.02; done'


def op_runs(store: Store, job_id: int, exec_: int | None = None) -> list[OpRun]:
    with store.read() as s:
        stmt = select(OpRun).where(OpRun.job_id == job_id)
        if exec_ is not None:
            stmt = stmt.where(OpRun.exec == exec_)
        return list(s.scalars(stmt.order_by(OpRun.exec, OpRun.position)))
