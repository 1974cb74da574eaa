"""A job's status change happens at one instant: its end date, its status's since and the audit row's time
are the same, however far the clock moves while the engine records it (they came milliseconds apart)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pendulum
import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.views import audit_json
from jobtui.engine.worker.loop import Engine
from tests.engine.test_traps_rollback import rollback_job
from tests.support.helpers import START, job_of, run_until_status

# One instant is taken in Python (Store.change_job), whatever the backend stores it in.
BACKENDS = ("sqlite",)
Submit = Callable[..., int]


class TickingClock(FakeClock):
    """Every read of the clock finds it a millisecond later, as a busy engine's reads do."""

    def now(self) -> pendulum.DateTime:
        return self.advance(0.001)


@pytest.fixture
def clock() -> FakeClock:
    return TickingClock(START)


def end_times(store: Store, job_id: int) -> tuple[float, float, float]:
    """The job's end date, its status's since, and the time of the audit row that moved it there."""
    job = job_of(store, job_id)
    assert job.ended_at is not None and job.status_since is not None
    moved = [row for row in audit_json(store, job_id) if row["to"] == job.status and row["from"] != row["to"]]
    return (
        pendulum.instance(job.ended_at, tz="UTC").timestamp(),
        pendulum.instance(job.status_since, tz="UTC").timestamp(),
        pendulum.parse(moved[-1]["at"]).timestamp(),  # type: ignore[union-attr]
    )


def test_a_rolled_back_job_ends_at_one_instant(
    engine: Engine, store: Store, submit: Submit, actions: Actions, tmp_path: Path
) -> None:
    job_id = submit(rollback_job(tmp_path, auto=False, fail_run=False))
    run_until_status(engine, job_id, "FINISHED")
    actions.rollback(job_id, reason="bad release")
    run_until_status(engine, job_id, "ROLLEDBACK", "ERROR")
    ended, since, audited = end_times(store, job_id)
    assert ended == since == audited


def test_a_job_cancelled_by_an_operator_ends_at_one_instant(
    store: Store, submit: Submit, actions: Actions
) -> None:
    job_id = submit('name = "later"\n[schedule]\nat = "2027-01-01T00:00:00Z"\n[[run]]\nrun = "true"\n')
    actions.cancel(job_id, comment="not needed")
    ended, since, audited = end_times(store, job_id)
    assert ended == since == audited


def test_a_cancel_of_an_expired_job_keeps_its_end_date_and_happens_now(
    engine: Engine, store: Store, submit: Submit, actions: Actions, clock: FakeClock
) -> None:
    """The job keeps when it ended (its elapsed time stays what ran); the cancel's audit row and its status's
    since are the cancel's own time, not that end date three days back."""
    job_id = submit('name = "late"\n[schedule]\nat = "+1h"\nmax_start = "+1h"\n[[run]]\nrun = "true"\n')
    clock.advance(3 * 3600)
    run_until_status(engine, job_id, "EXPIRED")
    expired_at = pendulum.instance(job_of(store, job_id).ended_at, tz="UTC")  # type: ignore[arg-type]
    clock.advance(3 * 86400)
    actions.cancel(job_id, comment="clean up")
    job = job_of(store, job_id)
    assert pendulum.instance(job.ended_at, tz="UTC") == expired_at  # type: ignore[arg-type]
    cancel = [row for row in audit_json(store, job_id) if row["action"] == "cancel"][-1]
    cancelled_at = pendulum.parse(cancel["at"])
    assert (cancelled_at - expired_at).total_seconds() > 2 * 86400  # type: ignore[operator]
    assert pendulum.instance(job.status_since, tz="UTC") == cancelled_at  # type: ignore[arg-type]
