"""An admin's word that a host is gone for good (`jobtui host-gone HOST`).

A job taken over from a lost engine of another host may still have its op running there; its retry, rerun
and rollback wait until an engine of that host is heard from again (`left_running.op_left_elsewhere`). A host
that never comes back (a dead machine, a removed container) would hold them back for ever: the admin says
so, and is answerable for it in each job's audit trail.
"""

from __future__ import annotations

from datetime import datetime

import pendulum
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import AuditEvent, Job, OpRun, Worker
from jobtui.engine.domain import reasons
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import OpStatus, Perm
from jobtui.engine.domain.text import counted
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.errors import BadValue
from jobtui.engine.read.engines import FRESH_HEARTBEAT_S
from jobtui.engine.service.actions import Actions, Refused, RefusedOn
from jobtui.engine.worker.left_running import op_left_elsewhere
from jobtui.engine.worker.state import HOST_GONE, host_gone_said

ACTION = "host-gone"


class HostActions:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.store = actions.store
        self.actor = actions.actor

    def declare_gone(self, host: str, comment: str | None = None) -> list[int]:
        """The jobs whose retry, rerun and rollback waited for an op a lost engine of `host` left no longer
        wait: each job's trail records this admin's word, and so does the queue's. An engine of `host`
        that starts after all kills those ops, whatever their jobs did since (`kill_orphans`). Refused
        while an engine of `host` is live: it deals with them itself. The jobs released, by id."""
        host = host.strip()
        if not host:
            raise BadValue(f"{ACTION}: the host's name is empty")
        on = RefusedOn(0, f"(host {host})", None)
        self.actions.require(ACTION, Perm.QUEUE_ADMIN, "*", on)
        self._refuse_unknown(host)
        try:
            with self.actions.transaction() as s:
                now = self.store.now()
                self._refuse_if_live(s, host, now)
                released = self._release(s, host, comment)
                said = f"{counted(len(released), 'job')} no longer waiting for its ops"
                s.add(
                    AuditEvent(
                        job_id=0,
                        job_name=f"(host {host})",
                        at=now,
                        who=self.actor.user,
                        by_user=self.actor.real,
                        action=HOST_GONE,
                        comment=f"{said}: {comment}" if comment else said,
                    )
                )
                return released
        except Refused as exc:
            self.actions.record_refusal(ACTION, str(exc), on)
            raise

    def _refuse_unknown(self, host: str) -> None:
        """A host no engine ever ran on is a typo (or another database's): nothing of it can hold a job
        back, and declaring it gone would pass unnoticed."""
        with self.store.read() as s:
            known = sorted(h for h in s.scalars(select(Worker.host).distinct()) if h)
        if host not in known:
            named = ", ".join(known) if known else "none yet"
            raise BadValue(
                f'{ACTION}: no engine of this database has ever run on host "{host}" (hosts known: {named})'
            )

    def _refuse_if_live(self, s: Session, host: str, now: pendulum.DateTime) -> None:
        for worker in s.scalars(select(Worker).where(Worker.host == host, Worker.stopped_at.is_(None))):
            age = _age_s(worker.heartbeat_at, now)
            if age is not None and age <= FRESH_HEARTBEAT_S:
                raise Refused(
                    Reason(
                        f"{ACTION}: engine {worker.id} of {host} (pid {worker.pid}) is live, its heartbeat "
                        f"{format_duration(round(age))} old: that host is not gone; a daemon started there "
                        "kills what a lost engine of it left (restart one if its ops still hold jobs back)",
                        reasons.HOST_LIVE,
                        action=ACTION,
                        host=host,
                        pid=worker.pid,
                    )
                )

    def _release(self, s: Session, host: str, comment: str | None) -> list[int]:
        left_there = (
            select(OpRun.id)
            .where(
                OpRun.job_id == Job.id,
                OpRun.exec == Job.exec,
                OpRun.host == host,
                # Failed by an abend, or stopped by a cancel (skipped past): as `op_left_elsewhere` finds.
                OpRun.status.in_([OpStatus.FAILED.value, OpStatus.SKIPPED.value]),
                OpRun.exit_code.is_(None),
                OpRun.completed_at.is_not(None),
            )
            .exists()
        )
        released = []
        for job in s.scalars(select(Job).where(left_there).order_by(Job.id)):
            op = op_left_elsewhere(s, job)
            if op is None or op.host != host or job.id is None:
                continue
            why = (
                f"{host_gone_said(host)} by {self.actor.user}"
                + (f": {comment}" if comment else "")
                + f"; op of exec {op.exec} (pid {op.pid or '?'}) no longer waited for"
            )
            self.store.change_job(s, job, self.actor.user, HOST_GONE, comment=why)
            released.append(job.id)
        return released


def _age_s(when: datetime | None, now: pendulum.DateTime) -> float | None:
    return None if when is None else max(0.0, (now - pendulum.instance(when)).total_seconds())
