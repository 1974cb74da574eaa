"""A job's plan as the engine's fast lane holds it in memory while it walks the job (see fastlane)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pendulum

from jobtui.engine.domain.definitions import Definition
from jobtui.engine.domain.states import OpStatus


@dataclass
class PlanOp:
    id: int
    task_id: int | None
    step: str
    op_index: int
    name: str
    status: str


@dataclass
class PlanTask:
    id: int
    target: str
    attempts: int


@dataclass
class Plan:
    """A held job as the lane walks it: what its rows say, kept in step with what the lane writes."""

    job_id: int
    lease: str
    name: str
    exec: int
    log_path: str
    definition: Definition
    step: str
    progress: int
    natures: list[str]
    reason: str | None
    run_started: bool
    max_start_at: datetime | None
    scheduled_at: datetime | None
    tasks: dict[int, PlanTask]
    ops: list[PlanOp]  # this execution's ops, in plan order
    current: PlanOp | None = None
    running_task: int | None = None  # the task of the last op started for a target
    # `ops` by owner (None: the job-wide ones), and how many are done, kept as the lane walks: a job of
    # 20,000 targets asks at every op, and counting its ops each time made its walk quadratic.
    _by_task: dict[int | None, list[PlanOp]] | None = field(default=None, repr=False, compare=False)
    _done: int | None = field(default=None, repr=False, compare=False)

    def ops_of(self, task_id: int | None) -> list[PlanOp]:
        """The ops `task_id` owns (None: the job-wide ones), in plan order."""
        if self._by_task is None:
            self._by_task = {}
            for op in self.ops:
                self._by_task.setdefault(op.task_id, []).append(op)
        return self._by_task.get(task_id, [])

    def done_count(self) -> int:
        if self._done is None:
            self._done = sum(1 for op in self.ops if op.status == OpStatus.DONE)
        return self._done

    def mark_done(self, op: PlanOp) -> None:
        if op.status != OpStatus.DONE and self._done is not None:
            self._done += 1
        op.status = OpStatus.DONE.value

    def gate_opens(self, now: pendulum.DateTime) -> bool:
        """RUN's gate (walker.run_gate) would let the job through now: approval, Max Start Date and
        scheduled date are all fine."""
        if self.run_started:
            return True
        if self.max_start_at is not None and now > self.max_start_at:
            return False
        return self.scheduled_at is None or self.scheduled_at <= now
