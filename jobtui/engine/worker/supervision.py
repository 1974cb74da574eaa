"""Watching the ops in flight: collecting their outcomes, timing them out, dropping jobs whose lease
was lost, and killing what ignores SIGTERM."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pendulum
from sqlmodel import col, select

from jobtui.engine.db.models import Job
from jobtui.engine.worker.runner import OpHandle, OpOutcome, group_alive
from jobtui.engine.worker.state import Dying, EngineState, Held

log = logging.getLogger("jobtui.engine")


class Supervisor:
    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.dying: list[Dying] = []

    def collect(self, now: pendulum.DateTime, complete: Callable[[Held, OpOutcome], None]) -> None:
        """Hand each op that ended to `complete`; terminate those past their timeout."""
        for held in list(self.state.held.values()):
            if held.handle is None:
                continue
            outcome = held.handle.poll()
            if outcome is None:
                if held.deadline is not None and now >= held.deadline and not held.timed_out:
                    held.timed_out = True
                    self.terminate_tree(held.handle)
                continue
            if held.timed_out:
                limit = held.timeout_s or 0
                outcome = OpOutcome(
                    outcome.exit_code if outcome.exit_code is not None else 124,
                    f"timed out after {_fmt_seconds(limit)}",
                )
            complete(held, outcome)

    def check_leases(self) -> None:
        held_jobs = self.state.held
        if not held_jobs:
            return
        with self.state.store.read() as s:
            rows = s.exec(select(Job.id, Job.lease).where(col(Job.id).in_(list(held_jobs)))).all()
        current = dict(rows)
        for job_id, held in list(held_jobs.items()):
            if current.get(job_id) != held.lease:
                self.drop(held, "lease lost")

    def drop(self, held: Held, why: str) -> None:
        """Stop touching a job we no longer own (cancelled, deleted, taken over); kill its op."""
        self.state.held.pop(held.job_id, None)
        if held.handle is not None:
            log.info("job %s: %s; terminating its op", held.job_id, why)
            self.terminate_tree(held.handle)

    def terminate_tree(self, handle: OpHandle) -> None:
        """SIGTERM to the op's group now, SIGKILL after the grace period to whatever ignored it."""
        if handle.poll() is None or (handle.pid is not None and group_alive(handle.pid)):
            handle.terminate()
            self.dying.append(Dying(handle, self.state.store.now()))

    def escalate_kills(self, now: pendulum.DateTime, grace_s: float) -> None:
        for dying in list(self.dying):
            if (now - dying.since).total_seconds() >= grace_s:
                dying.handle.kill()
                self.dying.remove(dying)
            elif (
                dying.handle.poll() is not None
                and dying.handle.pid is not None
                and not group_alive(dying.handle.pid)
            ):
                self.dying.remove(dying)


def _fmt_seconds(seconds: float) -> str:
    from jobtui.engine.domain.timeparse import format_duration

    return format_duration(seconds)
