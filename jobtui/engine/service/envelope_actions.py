"""Operator commands on envelopes (seed 004): submit a chain, record a corrupt one, cancel, roll back.

Like `actions`, each command checks the policy and the rules, changes the jobs, the envelope, the audit
trail and the notifications in one transaction.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import AUDIT, OP_RUNS, Envelope, Job, Notification, OpRun, Task
from jobtui.engine.db.rows import check_job
from jobtui.engine.domain import reasons
from jobtui.engine.domain.envelopes import ACTIVE_JOB, EnvelopeStatus, derive_status
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import (
    ACTIONS,
    ROLLBACK_JOB_TYPE,
    ROLLBACK_STEP,
    OpStatus,
    Perm,
    Status,
    Step,
    TaskStatus,
)
from jobtui.engine.errors import BadValue, Refusal
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.formats.envelope_file import (
    EnvelopeCorrupt,
    EnvelopeSpec,
    envelope_of_files,
    load_envelope,
)
from jobtui.engine.service.actions import Actions, Refused, RefusedOn, UnknownJob, op_left_reason
from jobtui.engine.service.views import iso, job_json
from jobtui.engine.worker import chain
from jobtui.engine.worker.left_running import op_left_elsewhere


class EnvelopeActions:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.store = actions.store
        self.actor = actions.actor

    # -- submission -----------------------------------------------------------------------------------

    def read_file(self, path: str) -> EnvelopeSpec:
        """The envelope in `path`, its jobs' dates checked on the database's clock, the one submission
        resolves them on (a host's own clock may be off the shared server's: a date one of them calls
        past would be refused at submission, not reported as this file's, at its line)."""
        return load_envelope(path, self.store.now())

    def of_files(self, paths: list[str], name: str) -> EnvelopeSpec:
        """`submit a.toml b.toml --envelope NAME`: those files as one envelope, checked as `read_file`."""
        return envelope_of_files(paths, name, self.store.now())

    def submit(self, spec: EnvelopeSpec) -> tuple[int, list[int]]:
        """One envelope, its jobs in chain order: only the first is due; the chain releases the rest."""
        self.actions.require(
            "submit", Perm.CREATE, spec.project, RefusedOn(0, f"(envelope {spec.name})", None)
        )
        resolved = [
            self.actions._resolve(
                entry.definition,
                entry.at,
                entry.max_start,
                # The entries are the file's [[jobs]] tables, in order: a message names the one to fix.
                {key: f'{spec.source}: [[jobs]] #{number} "{key}"' for key in ("at", "max_start")},
            )
            for number, entry in enumerate(spec.entries, start=1)
        ]
        with self.actions.transaction() as s:
            envelope = self._new_envelope(s, spec.name, spec.project, spec.source)
            assert envelope.id is not None
            ids: list[int] = []
            for position, (entry, when) in enumerate(zip(spec.entries, resolved, strict=True)):
                wait_for = f"waits for job {ids[-1]} of envelope {spec.name}" if ids else None
                ids += self.actions._create_jobs(
                    s,
                    entry.definition,
                    1,
                    when,
                    envelope_id=envelope.id,
                    position=position,
                    wait_for=wait_for,
                )
            chain.notify(
                self.store, s, envelope.id, "info", f"envelope {spec.name} submitted by {self.actor.user}"
            )
            self.store.touch(s, None, kind="envelope")
            return envelope.id, ids

    def record_corrupt(self, problem: EnvelopeCorrupt) -> int:
        """Keep a corrupt envelope visible (status CORRUPT with the reason); none of its jobs exist."""
        self.actions.require(
            "submit", Perm.CREATE, problem.project, RefusedOn(0, f"(envelope {problem.name})", None)
        )
        with self.actions.transaction() as s:
            envelope = self._new_envelope(s, problem.name, problem.project, problem.source)
            assert envelope.id is not None
            envelope.status = EnvelopeStatus.CORRUPT.value
            envelope.reason = problem.reason
            s.add(envelope)
            chain.notify(
                self.store, s, envelope.id, "error", f"envelope {problem.name} is corrupt: {problem.reason}"
            )
            self.store.touch(s, None, kind="envelope")
            return envelope.id

    def _new_envelope(self, s: Session, name: str, project: str, source: str) -> Envelope:
        envelope = Envelope(
            name=name, project=project, created_at=self.store.now(), source=source, owner=self.actor.user
        )
        s.add(envelope)
        s.flush()
        return envelope

    # -- cancel and rollback ----------------------------------------------------------------------------

    def cancel(self, envelope_id: int, comment: str | None = None) -> list[int]:
        """Cancel every job of the envelope that has not ended; the envelope is CANCELLED for good."""
        with self._audited_refusal("envelope-cancel", envelope_id):
            return self._cancel(envelope_id, comment)

    @contextmanager
    def _audited_refusal(self, action: str, envelope_id: int) -> Iterator[None]:
        """A refusal raised inside leaves an audit row (after its transaction rolled back)."""
        try:
            yield
        except Refusal as exc:
            self.actions.record_refusal(action, str(exc), RefusedOn(0, f"(envelope {envelope_id})", None))
            raise

    def _cancel(self, envelope_id: int, comment: str | None) -> list[int]:
        running: list[OpRun] = []
        with self.actions.transaction() as s:
            envelope = self._envelope(s, envelope_id)
            self.actor.require("envelope-cancel", Perm.CANCEL, envelope.project)
            jobs = self._chain(s, envelope_id)
            refused = self._cancel_status_refusal(envelope, jobs)
            if refused is not None:
                raise Refused(refused)
            cancelable = ACTIONS["cancel"].allowed_from
            open_ids = [job.id or 0 for job in jobs if Status(job.status) in cancelable]
            why = comment or f"envelope {envelope.name} cancelled"
            # Cancelled before its jobs are: the chain, which follows each job's end, then reads a
            # deliberate cancel, which this notifies, not a chain that finished with ERRORS.
            envelope.status = EnvelopeStatus.CANCELLED.value
            # The last first: cancelling a job cancels the rest of its chain with the chain's own reason
            # ("job 1 ended CANCELED"), and each job's trail is to carry the operator's why.
            for job in reversed(jobs):
                if Status(job.status) in cancelable:
                    engine_here = self.actions.engine_alive_here(s, job.worker_id)
                    ops = self.actions.cancel_in(s, job, why)
                    running += [] if engine_here else ops  # its live engine signals them, once
            envelope.reason = f"cancelled by {self.actor.user}" + (f": {comment}" if comment else "")
            s.add(envelope)
            chain.notify(self.store, s, envelope_id, "warning", f"envelope {envelope.name} {envelope.reason}")
            self.store.touch(s, None, kind="envelope")
        self.actions.terminate_and_log(running, "envelope CANCELLED")
        return open_ids

    @staticmethod
    def _cancel_status_refusal(envelope: Envelope, jobs: list[Job]) -> Reason | None:
        """Why the envelope, with these jobs, may not be cancelled whoever asks (None: it may)."""
        envelope_id = envelope.id or 0
        if envelope.status in (EnvelopeStatus.CORRUPT, EnvelopeStatus.CANCELLED, EnvelopeStatus.ROLLEDBACK):
            return Reason(
                f"envelope-cancel: envelope {envelope_id} is {envelope.status}",
                reasons.ENVELOPE_STATUS,
                action="envelope-cancel",
                envelope=envelope_id,
                name=envelope.name,
                status=envelope.status,
            )
        ended = derive_status(envelope.status, [job.status for job in jobs])
        if ended in (EnvelopeStatus.SUCCESS, EnvelopeStatus.ERRORS):
            # Nothing of it runs or waits: a cancel would only relabel its end (a failure off record).
            return Reason(
                f"envelope-cancel: envelope {envelope_id} ended {ended.value}: nothing left to cancel",
                reasons.ENVELOPE_STATUS,
                action="envelope-cancel",
                envelope=envelope_id,
                name=envelope.name,
                status=ended.value,
            )
        return None

    def cancel_refusal(self, s: Session, envelope: Envelope) -> str | None:
        """Why the envelope may not be cancelled now, or None: what `cancel` would refuse it for, in the
        same words (the dashboard enables `c` on an envelope from this)."""
        if not self.actor.may(Perm.CANCEL, envelope.project):
            who = self.actor.user
            return Reason(
                f"envelope-cancel: {who} lacks {Perm.CANCEL.value} on project {envelope.project}",
                reasons.PERMISSION,
                action="envelope-cancel",
                user=who,
                permission=Perm.CANCEL.value,
                project=envelope.project,
            )
        return self._cancel_status_refusal(envelope, self._chain(s, envelope.id or 0))

    def refusals(self, s: Session, envelope: Envelope) -> dict[str, str | None]:
        """Why each envelope command may not run on the envelope now (None: it may), by the id of the
        registry's command whose key runs it in the envelopes view (`commands.Command.envelope_cli`)."""
        return {"rollback": self.refusal(s, envelope), "cancel": self.cancel_refusal(s, envelope)}

    def refusal(self, s: Session, envelope: Envelope) -> str | None:
        """Why the envelope may not be rolled back now, or None (the dashboard enables `b` from this)."""
        action = "envelope-rollback"
        name = f"{action}: envelope {envelope.id} ({envelope.name})"
        facts = {"action": action, "envelope": envelope.id, "name": envelope.name}
        if not self.actor.may(Perm.ROLLBACK, envelope.project):
            who = self.actor.user
            return Reason(
                f"{action}: {who} lacks {Perm.ROLLBACK.value} on project {envelope.project}",
                reasons.PERMISSION,
                action=action,
                user=who,
                permission=Perm.ROLLBACK.value,
                project=envelope.project,
            )
        # A cancelled one may be: the jobs that finished before the cancel changed what they changed.
        if envelope.status in (EnvelopeStatus.CORRUPT, EnvelopeStatus.ROLLEDBACK):
            return Reason(
                f"{name} is {envelope.status}", reasons.ENVELOPE_STATUS, status=envelope.status, **facts
            )
        jobs = self._chain(s, envelope.id or 0)
        if any(Status(job.status) in ACTIVE_JOB for job in jobs):
            return Reason(
                f"{name} still has jobs queued or running; wait for them or cancel the envelope",
                reasons.ENVELOPE_BUSY,
                **facts,
            )
        for job in jobs:
            # Taken over from a lost engine, or canceled from another host than its op's, its op may still
            # run there: undoing it now would race it.
            if (
                job.status in (Status.ABEND, Status.CANCELED)
                and (left := op_left_elsewhere(s, job)) is not None
            ):
                return op_left_reason(action, job.id or 0, left)
        if not self._rollback_ops(s, jobs):
            return Reason(
                f"{name} has no completed ops with a rollback command",
                reasons.ENVELOPE_NO_ROLLBACK_WORK,
                **facts,
            )
        # Last: it reads the newer envelopes one by one (the dashboard asks at each envelope it shows).
        newer = self._newer_to_roll_back_first(s, envelope)
        if newer is not None:
            return Reason(
                f"{name}: envelope {newer.id} ({newer.name}) of project {envelope.project} is newer and not "
                f"rolled back; roll it back first",
                reasons.ENVELOPE_NEWER,
                newer=newer.id,
                newer_name=newer.name,
                project=envelope.project,
                **facts,
            )
        return None

    def _newer_to_roll_back_first(self, s: Session, envelope: Envelope) -> Envelope | None:
        """The newest envelope of the project, newer than `envelope`, whose changes must come off first:
        one still running, or with completed ops to roll back (a cancelled one too). One that can never be
        rolled back (corrupt, rolled back already, or with nothing to roll back) must not stand in the way
        forever."""
        newer = s.scalars(
            select(Envelope)
            .where(
                Envelope.project == envelope.project,
                Envelope.id > (envelope.id or 0),
                Envelope.status.not_in([EnvelopeStatus.ROLLEDBACK.value, EnvelopeStatus.CORRUPT.value]),
            )
            .order_by(Envelope.id.desc())
        ).all()
        for candidate in newer:
            jobs = self._chain(s, candidate.id or 0)
            if any(Status(job.status) in ACTIVE_JOB for job in jobs) or self._rollback_ops(s, jobs):
                return candidate
        return None

    def rollback(self, envelope_id: int, reason: str) -> int:
        """Queue a job that runs the rollback commands of every completed op of the envelope's jobs,
        newest first; the envelope is ROLLEDBACK when it ends. Returns the rollback job's id."""
        if not reason or not reason.strip():
            raise BadValue("envelope-rollback: a reason is required (--reason TEXT)")
        with self._audited_refusal("envelope-rollback", envelope_id):
            return self._rollback(envelope_id, reason)

    def _rollback(self, envelope_id: int, reason: str) -> int:
        with self.actions.transaction() as s:
            envelope = self._envelope(s, envelope_id)
            refused = self.refusal(s, envelope)
            if refused:
                raise Refused(refused)
            ops = self._rollback_ops(s, self._chain(s, envelope_id))
            job_id = self._rollback_job(s, envelope, ops, reason)
            envelope.rollback_job_id = job_id
            envelope.reason = f"rolled back by {self.actor.user}: {reason}"  # not a cancel's reason still
            s.add(envelope)
            chain.notify(
                self.store, s, envelope_id, "info", f"rollback started by {self.actor.user}: {reason}", job_id
            )
            self.store.touch(s, job_id)
            return job_id

    @staticmethod
    def _rollback_ops(s: Session, jobs: list[Job]) -> list[OpRun]:
        ids = [job.id for job in jobs if job.type != ROLLBACK_JOB_TYPE]
        return list(
            s.scalars(
                select(OpRun)
                .where(
                    OpRun.job_id.in_(ids),
                    OpRun.status == OpStatus.DONE.value,
                    OpRun.rollback.is_not(None),
                    OpRun.rolled_back.is_(False),
                    OpRun.step != ROLLBACK_STEP,
                )
                .order_by(OpRun.completed_at.desc(), OpRun.id.desc())
            )
        )

    def _rollback_job(self, s: Session, envelope: Envelope, ops: list[OpRun], reason: str) -> int:
        now = self.store.now()
        name = f"rollback {envelope.name}"
        definition = parse_definition(
            f"name = {json.dumps(name)}\nproject = {json.dumps(envelope.project)}\n", name
        )
        job = Job(
            id=self.store.first_new_job_id(s),
            name=name,
            type=ROLLBACK_JOB_TYPE,
            project=envelope.project,
            status=Status.ROLLBACK.value,
            step=Step.END.value,
            owner=self.actor.user,
            envelope_id=envelope.id,
            created_at=now,
            scheduled_at=now,
            max_start_at=now,
            started_at=now,
            status_since=now,
            reason=reason,
            definition=json.dumps(definition.to_dict()),
            source=envelope.source,
        )
        s.add(job)
        s.flush()
        assert job.id is not None
        job.log_path = self.store.log_file(job.id)
        s.add(job)
        s.add(Task(job_id=job.id, target=envelope.name, status=TaskStatus.SCHEDULED.value))
        targets = {
            t.id: t.target for t in s.scalars(select(Task).where(Task.id.in_([o.task_id for o in ops])))
        }
        rows: list[dict[str, Any]] = []
        for offset, done in enumerate(ops):
            target = targets.get(done.task_id) if done.task_id is not None else None
            # The command ran for a target: it runs again knowing which one.
            prefix = f"JOBTUI_TARGET={shlex.quote(target)}; export JOBTUI_TARGET; " if target else ""
            rows.append(
                {
                    "job_id": job.id,
                    "task_id": None,
                    "exec": 1,
                    "step": ROLLBACK_STEP,
                    "op_index": done.op_index,
                    "position": offset,
                    "name": f"rollback job {done.job_id} {done.name}" + (f" [{target}]" if target else ""),
                    "per_target": False,
                    "status": OpStatus.PENDING.value,
                    "rollback": prefix + (done.rollback or "true"),
                    "rolled_back": False,
                    "rollback_of": done.id,
                }
            )
        s.execute(insert(OP_RUNS), rows)
        s.execute(
            insert(AUDIT),
            [
                {
                    "job_id": job.id,
                    "job_name": name,
                    "at": now,
                    "who": self.actor.user,
                    "by_user": self.actor.real,
                    "action": "envelope rollback",
                    "from_status": None,
                    "to_status": Status.ROLLBACK.value,
                    "comment": reason,
                }
            ],
        )
        return job.id

    # -- reading --------------------------------------------------------------------------------------

    def _envelope(self, s: Session, envelope_id: int) -> Envelope:
        envelope = s.get(Envelope, envelope_id)
        if envelope is None:
            raise UnknownJob(f"no envelope {envelope_id}")
        return envelope

    def _chain(self, s: Session, envelope_id: int) -> list[Job]:
        """The envelope's jobs in chain order; CorruptRow names a job row changed by hand (a status jobtui
        does not know, a blob for a name), which no decision on the envelope may guess about."""
        jobs = chain.chain_of(s, envelope_id)
        for job in jobs:
            check_job(job)
        return jobs

    def _projects(self, s: Session, envelope: Envelope) -> list[str]:
        """The envelope's project and its jobs' projects: who may not view one of them does not see it."""
        jobs = self._chain(s, envelope.id or 0)
        return sorted({envelope.project, *(job.project for job in jobs)})

    def all_envelopes(self) -> list[dict[str, Any]]:
        """The envelopes the actor may view (action.job.view_monitor on every project they touch)."""
        with self.store.read() as s:
            envelopes = s.scalars(select(Envelope).order_by(Envelope.id)).all()
            return [
                self._json(s, envelope)
                for envelope in envelopes
                if all(self.actor.may(Perm.VIEW, p) for p in self._projects(s, envelope))
            ]

    def detail(self, envelope_id: int, verb: str | None = None) -> dict[str, Any]:
        """One envelope. With `verb` (the command asking, as `envelope`): PermissionRefused, naming the verb,
        unless the actor may view every project it touches."""
        with self.store.read() as s:
            envelope = self._envelope(s, envelope_id)
            if verb is not None:
                for project in self._projects(s, envelope):
                    self.actions.require(
                        verb, Perm.VIEW, project, RefusedOn(0, f"(envelope {envelope_id})", None)
                    )
            return self._json(s, envelope)

    def _json(self, s: Session, envelope: Envelope) -> dict[str, Any]:
        jobs = self._chain(s, envelope.id or 0)
        now = self.store.now()
        data: dict[str, Any] = {
            "id": envelope.id,
            "name": envelope.name,
            "project": envelope.project,
            "status": derive_status(envelope.status, [job.status for job in jobs]).value,
            "created_at": iso(envelope.created_at),
            "reason": envelope.reason,
            "owner": envelope.owner,
            "source": envelope.source,
            "rollback_job": envelope.rollback_job_id,
            "jobs": [job_json(job, s, now) for job in jobs],
        }
        notes = s.scalars(
            select(Notification).where(Notification.envelope_id == envelope.id).order_by(Notification.id)
        )
        data["notifications"] = [
            {"at": iso(n.at), "level": n.level, "text": n.text, "job": n.job_id} for n in notes
        ]
        return data
