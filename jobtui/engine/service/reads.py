"""The one read path about jobs and envelopes, scoped by the actor.

Every question the CLI and the dashboard ask about one job (its detail, log, audit trail) or about the
envelopes goes through `Reads`: a job of a project the actor may not view (action.job.view_monitor) is
refused the same way everywhere, naming the verb that asked; lists leave such jobs out. The job table and
its counts are the fast driver-level half of this path (`jobtui.engine.read.listing`, scoped by the same
`scope_of`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pendulum
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobtui.engine.db.models import Envelope, Job
from jobtui.engine.db.rows import BadJobRow, bad_job_rows, check_job, job_status
from jobtui.engine.db.store import Store
from jobtui.engine.domain.envelopes import derive_status
from jobtui.engine.domain.logread import LogCursor, LogEnd, LogPiece
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import FINAL_STATUSES, Perm
from jobtui.engine.errors import CorruptRow, CorruptValue
from jobtui.engine.read import job_log
from jobtui.engine.read.engines import engines, worker_json
from jobtui.engine.read.listing import ALL_PROJECTS, JobListing, scope_of
from jobtui.engine.service.actions import Actions, RefusedOn, UnknownJob
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.service.envelope_tree import TreeData, load_tree
from jobtui.engine.service.views import audit_json, job_detail_json, job_json, task_window
from jobtui.engine.worker.chain import chain_of

# The detail pane reads a window of a job's tasks, never all of them: a job with 20,000 targets fills it in
# well under a second, and its tasks table fetches other windows as the operator scrolls.
PANE_TASKS = 500


@dataclass(frozen=True)
class JobPane:
    """What the dashboard's detail pane shows of one job, read in one go."""

    job: dict[str, Any]  # the `show` JSON, with log_path
    audit: list[dict[str, Any]]
    now: pendulum.DateTime


@dataclass(frozen=True)
class TaskWindow:
    """Some of a job's tasks, by position from `start`, each with its steps (as in the `show` JSON)."""

    job_id: int
    start: int
    total: int  # the job's tasks in all
    tasks: list[dict[str, Any]]
    now: pendulum.DateTime


@dataclass(frozen=True)
class EnvelopeSummary:
    id: int
    name: str
    project: str
    status: str  # the derived status's code
    jobs: int


# How many jobs `iter_jobs` reads at a time.
JOB_PAGE = 1000


class Reads:
    def __init__(self, store: Store, actor: Actor) -> None:
        self.store = store
        self.actor = actor

    # -- one job ----------------------------------------------------------------------------------------

    def _get(self, s: Session, job_id: int, verb: str | None) -> Job | None:
        """The job, or None when there is none. A row that cannot be read (a date column holding text that
        is no date) raises CorruptRow naming it and the field, once the actor may view it (refused as any
        job otherwise; with no `verb`, the caller's `may_view` hides it: None)."""
        try:
            return s.get(Job, job_id)
        except CorruptValue:
            bad = bad_job_rows(s, [job_id]).get(job_id)
            if bad is None:
                raise
        if verb is None:
            if not self.may_view(bad.project):
                return None
        else:
            self._require_view(verb, bad.project, RefusedOn(job_id, bad.name, bad.status))
        raise bad.problem

    def _job(self, s: Session, job_id: int, verb: str) -> Job:
        job = self._get(s, job_id, verb)
        if job is None:
            raise UnknownJob(f"{verb}: no job {job_id}")
        self._require_view(verb, job.project, RefusedOn(job_id, job.name, job.status))
        check_job(job)  # a value changed by hand is named, row and field, not met on the way
        return job

    def _require_view(self, verb: str, project: str, on: RefusedOn) -> None:
        """Refuse (and audit the refusal) unless the actor may view `project`."""
        if not self.may_view(project):
            Actions(self.store, self.actor).require(verb, Perm.VIEW, project, on)

    def may_view(self, project: str) -> bool:
        return self.actor.may(Perm.VIEW, project)

    def detail(self, job_id: int, verb: str = "show", lang: str = "en") -> dict[str, Any]:
        """The `show` JSON of a job (tasks, steps, trap, schedule)."""
        with self.store.read() as s:
            job = self._job(s, job_id, verb)
            return job_detail_json(job, s, self.store.now(), lang, log_file=self.store.log_file(job_id))

    def workers(self) -> list[dict[str, Any]]:
        """The engines serving the database, as the dashboard's workers view lists them (`jobtui
        workers`): running and most recently heard first; the jobs each holds, of the projects the
        actor may view."""
        now = self.store.now()
        return [worker_json(row, now) for row in engines(JobListing(self.store.reader, scope_of(self.actor)))]

    def job(self, job_id: int, verb: str) -> dict[str, Any] | None:
        """The job's summary JSON, or None when it is gone (deleted); refused when not viewable."""
        with self.store.read() as s:
            job = self._get(s, job_id, verb)
            if job is None:
                return None
            self._require_view(verb, job.project, RefusedOn(job_id, job.name, job.status))
            return job_json(job, s, self.store.now())

    def audit(self, job_id: int, verb: str = "audit") -> list[dict[str, Any]]:
        """The audit trail, also of a deleted job (its tombstone names no project: only who may view every
        project reads it)."""
        rows = audit_json(self.store, job_id)
        if not rows and job_id != 0:  # 0: the queue's and the policy's trail, empty until one acts
            raise UnknownJob(f"{verb}: no job {job_id}")
        with self.store.read() as s:
            try:
                job: Job | BadJobRow | None = s.get(Job, job_id)
            except CorruptValue:
                # The trail of a row changed by hand is still read: it may tell who changed what.
                job = bad_job_rows(s, [job_id]).get(job_id)
                if job is None:
                    raise
            project = job.project if job is not None else "*"
            on = RefusedOn(
                job_id,
                job.name if job else (rows[0].get("job_name", "") if rows else ""),
                job.status if job else None,
            )
        self._require_view(verb, project, on)
        return rows

    def log_path(self, job_id: int, verb: str = "log") -> Path:
        with self.store.read() as s:
            self._job(s, job_id, verb)  # an unknown job, or one the actor may not view, is refused
        return Path(self.store.log_file(job_id))

    # -- a job's log: the chunks the engines shipped, or the local file for a job with none ---------------

    def log_read(self, job_id: int, cursor: LogCursor | None, max_bytes: int, verb: str = "log") -> LogPiece:
        """The log's bytes after `cursor` (None: from the start), at most `max_bytes` of them (but at least
        one chunk). A job gone meanwhile (deleted) reads as nothing more; check it exists first
        (`log_path`) to refuse an unknown job."""
        with self.store.read() as s:
            job = self._viewable(s, job_id, verb)
        if job is None:
            return LogPiece(b"", cursor or LogCursor(False, 0))
        return job_log.log_read(self.store.reader, job_id, self.store.log_file(job_id), cursor, max_bytes)

    def log_end(self, job_id: int, max_bytes: int, verb: str = "log") -> LogEnd:
        """The last `max_bytes` of the log (whole chunks, then cut to size), and how much came before them
        (the dashboard's tail and full log view). A job gone reads as empty."""
        with self.store.read() as s:
            job = self._viewable(s, job_id, verb)
        if job is None:
            return LogEnd(b"", 0, LogCursor(False, 0))
        return job_log.log_end(self.store.reader, job_id, self.store.log_file(job_id), max_bytes)

    def _viewable(self, s: Session, job_id: int, verb: str) -> Job | None:
        job = self._get(s, job_id, verb)
        if job is not None:
            self._require_view(verb, job.project, RefusedOn(job_id, job.name, job.status))
        return job

    def has_ended(self, job_id: int) -> bool:
        """Whether the job is in a final status or gone: a followed log has nothing more to wait for."""
        with self.store.read() as s:
            job = self._get(s, job_id, "log")
            return job is None or job_status(job) in FINAL_STATUSES

    def pane(self, job_id: int, lang: str = "en", first_task: int = 0) -> JobPane | None:
        """The detail pane's job, with PANE_TASKS of its tasks from position `first_task` on (where its
        tasks table stands), or None when it is gone or the actor may not view it (the pane stays empty
        rather than showing a job the table would not list)."""
        now = self.store.now()
        with self.store.read() as s:
            job = self._get(s, job_id, None)
            if job is None or not self.may_view(job.project):
                return None
            check_job(job)
            data = job_detail_json(
                job,
                s,
                now,
                lang,
                max_tasks=PANE_TASKS,
                first_task=max(0, first_task),
                log_file=self.store.log_file(job_id),
            )
        return JobPane(data, audit_json(self.store, job_id), now)

    def task_window(self, job_id: int, start: int, count: int, lang: str = "en") -> TaskWindow | None:
        """`count` of the job's tasks (at most PANE_TASKS) from position `start` on, each with its steps of
        the job's current exec, for the pane's tasks table; None when the job is gone or the actor may not
        view it (as `pane`). `lang` is the pane's: the tasks carry codes, translated where drawn."""
        del lang
        now = self.store.now()
        with self.store.read() as s:
            job = self._get(s, job_id, None)
            if job is None or not self.may_view(job.project):
                return None
            tasks, total, _ops = task_window(job, s, max(0, start), max(1, min(count, PANE_TASKS)))
        return TaskWindow(job_id, max(0, start), total, tasks, now)

    # -- lists ------------------------------------------------------------------------------------------

    def jobs(
        self, statuses: list[str], project: str | None, include_system: bool, limit: int
    ) -> list[dict[str, Any]]:
        """Newest first, only of projects the actor may view (before `limit` counts them). A row that
        cannot be read raises its CorruptRow (`jobs_readable` lists the others)."""
        listed, problems = self.jobs_readable(statuses, project, include_system, limit)
        if problems:
            raise problems[0]
        return listed

    def jobs_readable(
        self, statuses: list[str], project: str | None, include_system: bool, limit: int
    ) -> tuple[list[dict[str, Any]], list[CorruptRow]]:
        """As `jobs`, with the rows that cannot be read left out and named (newest first): one row changed
        by hand hides no other job."""
        problems: list[CorruptRow] = []
        listed = list(self.iter_jobs(statuses, project, include_system, limit, problems))
        return listed, problems

    def iter_jobs(
        self,
        statuses: list[str],
        project: str | None,
        include_system: bool,
        limit: int,
        problems: list[CorruptRow],
    ) -> Iterator[dict[str, Any]]:
        """`jobs_readable`, a page of JOB_PAGE jobs at a time (each page read in a transaction of its own):
        `jobtui jobs` of a million jobs held every row in memory at once (200,000: 1.8 GB). The rows that
        cannot be read are added to `problems` once the last page is read."""
        conditions: list[Any] = []
        scope = scope_of(self.actor)
        if scope != ALL_PROJECTS:
            conditions.append(Job.project.in_(sorted(scope)))
        if statuses:
            conditions.append(Job.status.in_(statuses))
        if project:
            conditions.append(Job.project == project)
        if not include_system:
            conditions.append(Job.system.is_(False))
        bad: dict[int, CorruptRow] = {}
        below: int | None = None
        left = limit if limit else None
        while left is None or left > 0:
            size = JOB_PAGE if left is None else min(JOB_PAGE, left)
            page: list[dict[str, Any]] = []
            with self.store.read() as s:
                now = self.store.now()
                where = [*conditions, Job.id < below] if below is not None else conditions
                # Stored ids are never null: only a Job not yet flushed has none.
                ids = cast(
                    list[int],
                    list(s.scalars(select(Job.id).where(*where).order_by(Job.id.desc()).limit(size))),
                )
                if not ids:
                    break
                below = ids[-1]
                for job in self._page_of_jobs(s, ids, bad):
                    try:
                        page.append(job_json(job, s, now))
                    except CorruptRow as problem:
                        bad[job.id or 0] = problem
            yield from page  # outside the transaction: the reader may take its time
            if left is not None:
                left -= len(ids)
        problems.extend(bad[job_id] for job_id in sorted(bad, reverse=True))

    def _page_of_jobs(self, s: Session, ids: list[int], bad: dict[int, CorruptRow]) -> list[Job]:
        """The jobs `ids`, newest first, but those with a date that is no date (it fails the whole read:
        read as stored, they say which), named in `bad`."""
        query = select(Job).order_by(Job.id.desc())
        try:
            return list(s.scalars(query.where(Job.id.in_(ids))))
        except CorruptValue:
            found = bad_job_rows(s, ids)
            if not found:
                raise
            bad.update((job_id, row.problem) for job_id, row in found.items())
            good = [job_id for job_id in ids if job_id not in found]
            return list(s.scalars(query.where(Job.id.in_(good)))) if good else []

    def envelope_tree(self) -> TreeData:
        """The envelopes view: envelopes whose every project the actor may view, and loose jobs of them."""
        return load_tree(self.store, scope_of(self.actor))

    def envelope_summary(self, s: Session, envelope_id: int) -> tuple[Envelope, EnvelopeSummary] | None:
        """The envelope with its derived status, or None when it is gone or not viewable."""
        envelope = s.get(Envelope, envelope_id)
        if envelope is None:
            return None
        jobs = chain_of(s, envelope_id)
        if not all(self.may_view(project) for project in {envelope.project, *(job.project for job in jobs)}):
            return None
        status = derive_status(envelope.status, [job.status for job in jobs])
        return envelope, EnvelopeSummary(
            envelope_id, envelope.name, envelope.project, status.value, len(jobs)
        )

    def envelope_state(
        self, envelope_id: int, envelopes: EnvelopeActions
    ) -> tuple[EnvelopeSummary | None, dict[str, str | None]]:
        """The envelope as the dashboard's envelope dialogs show it (None: gone or not viewable) and why
        each envelope command may not run on it now (`EnvelopeActions.refusals`), read in one transaction."""
        with self.store.read() as s:
            found = self.envelope_summary(s, envelope_id)
            if found is None:
                return None, {}
            envelope, summary = found
            return summary, envelopes.refusals(s, envelope)
