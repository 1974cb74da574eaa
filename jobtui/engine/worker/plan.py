"""A job's plan as the engine's fast lane holds it in memory while it walks the job (see fastlane)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pendulum

from jobtui.engine.domain.definitions import Definition


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

    def gate_opens(self, now: pendulum.DateTime) -> bool:
        """RUN's gate (walker.run_gate) would let the job through now: approval, Max Start Date and
        scheduled date are all fine."""
        if self.run_started:
            return True
        if self.max_start_at is not None and now > self.max_start_at:
            return False
        return self.scheduled_at is None or self.scheduled_at <= now
