"""An engine sweeps the queue every second, whatever the database holds: the sweeps and the claim of a
rollback left without an engine must walk the jobs they look for, not every job that ever ended.

Measured in SQLite's virtual machine instructions (a progress handler counting them), not in time:
without statistics SQLite's planner took `worker_id IS NULL` (every ended job) or `status = ?` over the
partial index that holds only the waiting jobs, and each sweep grew with the history (100 ms a sweep at
200,000 ended jobs); the trap-timeout sweep walked every trapped job, most of them waiting for an
operator with no deadline (17 ms at the demo's 6,700)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import case, event, func, select, text, update

from jobtui.demo.bulk import bulk_load
from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.worker.loop import Engine

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

STEP = 100  # instructions between two calls of the progress handler


@contextmanager
def counted_instructions(store: Store) -> Iterator[list[int]]:
    """Counts (in STEPs) the instructions SQLite runs on the store's connections in the block."""
    calls = [0]

    def count() -> int:
        calls[0] += 1
        return 0

    def on_checkout(dbapi_connection: object, *_: object) -> None:
        dbapi_connection.set_progress_handler(count, STEP)  # type: ignore[attr-defined]

    def on_checkin(dbapi_connection: object, *_: object) -> None:
        dbapi_connection.set_progress_handler(None, STEP)  # type: ignore[attr-defined]

    event.listen(store.engine, "checkout", on_checkout)
    event.listen(store.engine, "checkin", on_checkin)
    try:
        yield calls
    finally:
        event.remove(store.engine, "checkout", on_checkout)
        event.remove(store.engine, "checkin", on_checkin)


def _end_every_job(store: Store) -> None:
    """Every job ended, but the newest: a rollback left without an engine (for a claim to pick up)."""
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'FINISHED', worker_id = NULL, lease = NULL"))
        conn.execute(text("UPDATE jobs SET status = 'ROLLBACK' WHERE id = (SELECT max(id) FROM jobs)"))


def _wait_for_tomorrow(store: Store, first_id: int) -> None:
    """Every other job from `first_id` on waits to run tomorrow (a backlog: nothing of it is due,
    expired or out of its schedule), in the steps the sweeps look at."""
    tomorrow = store.now().add(days=1)
    newest = select(func.max(JOBS.c.id)).scalar_subquery()
    with store.engine.begin() as conn:
        conn.execute(
            update(JOBS)
            .where(JOBS.c.id >= first_id, JOBS.c.id % 2 == 0, JOBS.c.id < newest)
            .values(
                status="READY",
                step=case((JOBS.c.id % 4 == 0, "INIT"), else_="RUN"),
                run_started_at=None,
                due_at=tomorrow,
                max_start_at=tomorrow.add(hours=1),
                expires_at=tomorrow.add(hours=1),
            )
        )


def _trap_for_later(store: Store, first_id: int) -> None:
    """A quarter of the jobs from `first_id` on trapped: half of those with a timeout running out
    tomorrow, half waiting for an operator however long it takes (no deadline)."""
    tomorrow = store.now().add(days=1)
    trapped = (JOBS.c.id >= first_id, JOBS.c.id % 4 == 1)
    with store.engine.begin() as conn:
        conn.execute(update(JOBS).where(*trapped).values(status="TRAPPED", step="RUN", trap_deadline_at=None))
        conn.execute(update(JOBS).where(*trapped, JOBS.c.id % 8 == 1).values(trap_deadline_at=tomorrow))


def _sweep(engine: Engine) -> None:
    engine._sweeps.run(engine.store.now(), engine.lease_s)


def _claim_an_orphan_rollback(engine: Engine) -> None:
    now = engine.store.now()
    claimer = engine._claimer
    assert claimer.look(now, 1)
    with engine.store.write() as s:
        assert claimer.claim_in(s, now, 1)


def _cost(store: Store, engine: Engine, work: Callable[[Engine], None]) -> int:
    with counted_instructions(store) as calls:
        work(engine)
    return calls[0]


WORK: dict[str, Callable[[Engine], None]] = {
    "sweeps": _sweep,
    "orphan rollback claim": _claim_an_orphan_rollback,
}


def test_sweeps_and_claims_cost_the_same_with_20_times_the_jobs(store: Store) -> None:
    bulk_load(store, 1_000)
    _end_every_job(store)
    engine = Engine(store, workers=2)
    before = {name: _cost(store, engine, work) for name, work in WORK.items()}
    bulk_load(store, 19_000, seed=1)
    _end_every_job(store)
    _wait_for_tomorrow(store, 1_001)  # 9,500 waiting, 9,500 ended more
    _trap_for_later(store, 1_001)  # of those ended, 4,750 trapped instead
    after = {name: _cost(store, engine, work) for name, work in WORK.items()}
    for name in WORK:
        assert after[name] < 2 * before[name] + 20, (name, before[name], after[name])
