"""The monitor's reads: the window order and a job's position agree for every column and direction."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text, update

from jobtui.engine.db.driver import SCHEMA_HEAD
from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import NEEDS_ATTENTION
from jobtui.engine.read.listing import SORTABLE, JobFilter, JobListing, JobSort
from jobtui.engine.service.actions import Actions
from tests.support.helpers import START, definition

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def listing(store: Store, actions: Actions) -> JobListing:
    for n in range(12):
        ids = actions.submit_many(
            definition(
                f'name = "job-{n % 5}"\nproject = "{["payments", "web", "ops"][n % 3]}"\n'
                f'system = {str(n == 7).lower()}\ntargets = ["host-{n}"]\n'
            ),
            3,
        )
        with store.write() as s:
            s.execute(
                update(JOBS)
                .where(JOBS.c.id.in_(ids))
                .values(
                    # Half the jobs have no start date: NULLs must sort consistently too.
                    started_at=START.add(minutes=n % 4) if n % 2 else None,
                    status=["READY", "FINISHED", "ERROR", "RUNNING"][n % 4],
                    progress=(n * 37) % 101,
                )
            )
    return JobListing(store.reader)


# Every order on one seeded database (seeding it is most of a test's time).
EVERY_ORDER = [JobSort(column, descending) for column in sorted(SORTABLE) for descending in (False, True)]


def test_position_of_agrees_with_the_window_order(listing: JobListing) -> None:
    flt = JobFilter()
    for order in EVERY_ORDER:
        rows = listing.window(flt, order, 0, 1000)
        assert len(rows) == listing.count(flt) == 33, order  # the system job's 3 are hidden
        for index, row in enumerate(rows):
            assert listing.position_of(flt, order, row.id) == index, (order, row)
        assert [r.id for r in listing.window(flt, order, 10, 5)] == [r.id for r in rows[10:15]], order


@pytest.mark.backends("sqlite")
def test_every_sort_reads_its_window_in_index_order(listing: JobListing) -> None:
    """No sort of the whole table per refresh: at a million jobs that took seconds for each screen."""
    for order in EVERY_ORDER:
        sql, params = listing.window_query(JobFilter(), order)
        plan = [
            row[-1]
            for row in listing.reader.rows(f"EXPLAIN QUERY PLAN {sql}", {**params, "limit": 1, "offset": 0})
        ]
        assert not any("TEMP B-TREE" in step for step in plan), (order, plan)


@pytest.mark.backends("postgresql")
def test_the_opening_order_reads_its_window_in_index_order_on_postgresql(
    listing: JobListing, store: Store
) -> None:
    """Its `NULLS LAST` on the id (never NULL) made PostgreSQL sort every job for each window of the
    table's default order: 310 ms a refresh at 200,000 jobs, 7 ms walking the index."""
    for descending in (True, False):
        sql, params = listing.window_query(JobFilter(), JobSort("id", descending))
        with store.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL enable_sort = off")  # a sort still planned is one it cannot avoid
            plan = conn.execute(text(f"EXPLAIN {sql}"), {**params, "limit": 100, "offset": 0}).scalars().all()
        assert not any("Sort" in step for step in plan), plan


def test_filters_by_text_status_system_and_target(listing: JobListing) -> None:
    assert listing.count(JobFilter(show_system=True)) == 36
    assert listing.count(JobFilter(text="payments")) == 12
    assert listing.count(JobFilter(text="HOST-3")) == 3  # matches a task's target, case-insensitively
    assert listing.count(JobFilter(statuses=frozenset({"ERROR"}))) == 9
    one = listing.window(JobFilter(text="#5"), JobSort(), 0, 10)
    assert [r.id for r in one] == [5]
    hidden = listing.window(JobFilter(show_system=True, text="host-7"), JobSort(), 0, 10)[0].id
    assert listing.position_of(JobFilter(), JobSort(), hidden) is None


def test_a_percent_sign_or_an_underscore_typed_in_the_filter_is_searched_for(
    store: Store, actions: Actions
) -> None:
    for name in ("sync-devices", "sync_devices", "disk 100%", "back\\slash", "backXslash"):
        actions.submit(definition(f"name = {json.dumps(name)}\n"), keep=True)
    listing = JobListing(store.reader)

    def names(text: str) -> list[str]:
        return sorted(row.name for row in listing.window(JobFilter(text=text), JobSort(), 0, 10))

    assert names("sync_devices") == ["sync_devices"]
    assert names("_") == ["sync_devices"]
    assert names("%") == ["disk 100%"]
    assert names("0%") == ["disk 100%"]
    assert names("back\\") == ["back\\slash"]
    assert names("sync") == ["sync-devices", "sync_devices"]
    assert listing.count(JobFilter(text="_")) == 1


def test_status_counts_and_change_feed(listing: JobListing, actions: Actions) -> None:
    counts = listing.status_counts()
    assert sum(counts.values()) == 33 and counts["ERROR"] == 9
    seq = listing.last_seq()
    job_id = actions.submit(definition('name = "new"\n'))
    new_seq, changed = listing.changed_since(seq)
    assert new_seq > seq and changed == {job_id}
    assert listing.rows_by_id([job_id])[job_id].name == "new"


def _counted(
    store: Store, projects: tuple[str, ...] = ("payments", "web", "ops"), system: bool = False
) -> dict[str, int]:
    """Jobs per status of `projects` (system jobs too if `system`), counted from the jobs themselves."""
    marks = ", ".join("?" * len(projects))
    shown = "" if system else "NOT system AND "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT status, count(*) FROM jobs WHERE {shown}project IN ({marks}) GROUP BY status", projects
        ).all()
    return {s: n for s, n in rows}


@pytest.mark.backends("sqlite")  # the count triggers are SQLite's; PostgreSQL counts as it reads
def test_counts_follow_every_write_and_heal_after_a_broken_bulk_load(
    listing: JobListing, store: Store, actions: Actions
) -> None:
    web = JobListing(store.reader, frozenset({"web"}))  # a user who may view one project's jobs
    assert listing.status_counts() == _counted(store)
    assert web.status_counts() == _counted(store, ("web",)) != {}
    job_id = actions.submit(definition('name = "n"\nproject = "web"\n'))
    actions.cancel(job_id)
    actions.delete(listing.window(JobFilter(statuses=frozenset({"ERROR"})), JobSort(), 0, 1)[0].id)
    with store.engine.begin() as conn:  # moved to another project by hand
        conn.exec_driver_sql("UPDATE jobs SET project = 'web' WHERE id = 1")
    assert listing.status_counts() == _counted(store)
    assert web.status_counts() == _counted(store, ("web",))
    assert web.count(JobFilter()) == sum(_counted(store, ("web",)).values())
    with store.engine.begin() as conn:  # a bulk load that died after dropping the triggers
        conn.exec_driver_sql("DROP TRIGGER jobs_count_update")
        conn.exec_driver_sql("UPDATE jobs SET status = 'FINISHED' WHERE status = 'READY'")
    assert listing.status_counts() != _counted(store)
    healed = Store(store.url).reader
    assert JobListing(healed).status_counts() == _counted(store)
    assert JobListing(healed, frozenset({"web"})).status_counts() == _counted(store, ("web",))


@pytest.mark.backends("sqlite")
def test_the_header_of_a_user_who_may_view_a_few_projects_reads_no_job_rows(
    store: Store, listing: JobListing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its counts (per status, needing attention, the table's total) came from a GROUP BY over the jobs of
    those projects at every refresh and every cursor move: 2.3 s each at a million jobs."""
    scoped = JobListing(store.reader, frozenset({"web", "ops"}))
    read: list[str] = []
    for method in ("rows", "value"):
        original = getattr(store.reader, method)
        monkeypatch.setattr(
            store.reader, method, lambda sql, *a, _o=original, **k: read.append(sql) or _o(sql, *a, **k)
        )
    counts = scoped.status_counts()
    assert counts == _counted(store, ("web", "ops"))
    everything = _counted(store, ("web", "ops"), system=True)
    assert scoped.attention_count() == sum(everything.get(status, 0) for status in NEEDS_ATTENTION) > 0
    assert scoped.count(JobFilter()) == sum(counts.values())
    assert scoped.count(JobFilter(statuses=frozenset({"ERROR"}))) == counts["ERROR"]
    assert read and not [sql for sql in read if "FROM jobs" in sql]


@pytest.mark.backends("sqlite")
def test_a_database_of_counts_per_status_only_is_upgraded_to_counts_per_project(
    listing: JobListing, store: Store
) -> None:
    """Migration 0016: a user who may view a few projects had their header counted with a GROUP BY over
    their jobs at every refresh (2.3 s for each of the header's two counts at a million jobs)."""
    from alembic import command

    from jobtui.engine.db.migrate import alembic_config

    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
        columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(job_counts)")]
        assert columns == ["status", "system", "n"]
        conn.exec_driver_sql("UPDATE jobs SET status = 'ERROR' WHERE project = 'ops'")  # counted still
    upgraded = Store(store.url).reader
    assert upgraded.schema_revision() == SCHEMA_HEAD
    for projects in (("web",), ("web", "ops")):
        assert JobListing(upgraded, frozenset(projects)).status_counts() == _counted(store, projects) != {}
    assert JobListing(upgraded).status_counts() == _counted(store)


@pytest.mark.backends("postgresql")
def test_a_connection_the_server_dropped_is_replaced_not_reported(listing: JobListing, store: Store) -> None:
    """After a server restart (here: its backends terminated) the next read reconnects at once; the
    monitor does not flash "database unreachable" for a connection that sat idle in the pool."""
    import psycopg

    from jobtui.engine.db.driver import postgres_dsn

    seq = listing.last_seq()
    dsn = postgres_dsn(store.url)
    assert dsn is not None
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    assert listing.last_seq() == seq


def test_status_sorts_by_severity_and_step_in_pipeline_order(store: Store, actions: Actions) -> None:
    """Needs attention first (trapped, abend, error…), a success last; steps as the pipeline walks them."""
    made = {
        "FINISHED": "END",
        "TRAPPED": "RUN",
        "READY": "INIT",
        "ERROR": "POST",
        "RUNNING": "PRE",
        "APPROVAL": "RUN",
    }
    for status, step in made.items():
        (job_id,) = actions.submit_many(definition(f'name = "{status.lower()}"\n'), 1)
        with store.write() as s:
            s.execute(update(JOBS).where(JOBS.c.id == job_id).values(status=status, step=step))
    listing = JobListing(store.reader)
    by_status = [r.status for r in listing.window(JobFilter(), JobSort("status", False), 0, 10)]
    assert by_status == ["TRAPPED", "ERROR", "APPROVAL", "RUNNING", "READY", "FINISHED"]
    by_step = [r.step for r in listing.window(JobFilter(), JobSort("step", False), 0, 10)]
    assert by_step == ["INIT", "PRE", "RUN", "RUN", "POST", "END"]
    reversed_order = listing.window(JobFilter(), JobSort("status", True), 0, 10)
    assert reversed_order[0].status == "FINISHED"  # reversed: a success first


@pytest.mark.parametrize("descending", [False, True])
def test_elapsed_and_waiting_sort_by_how_long_not_by_a_date(
    store: Store, actions: Actions, descending: bool
) -> None:
    """Elapsed: jobs still going count longer than any ended one (the earliest start longest), ended ones
    by how long they took, queued and never-started jobs last. Waiting: queued jobs by how long they have
    been ready (entered READY or reached their RUN date, the later), others last."""
    shapes = {
        # name: (status, started, ended, scheduled, status_since), minutes from START
        "ran-5m": ("FINISHED", 0, 5, 0, 5),
        "ran-50m": ("ERROR", 10, 60, 10, 60),
        "running-since-30": ("RUNNING", 30, None, 30, 30),
        "trapped-since-20": ("TRAPPED", 20, None, 20, 40),
        "ready-since-40": ("READY", 1, None, 0, 40),  # INIT ran at 1: still not "elapsed"
        "ready-at-70": ("READY", None, None, 70, 10),  # RUN date later than its READY
        "never": ("CANCELED", None, None, 0, 3),
    }
    ids = {}
    for name, (status, started, ended, scheduled, since) in shapes.items():
        ids[name] = actions.submit(definition(f'name = "{name}"\n'))

        def at(minutes: int | None) -> object:
            return None if minutes is None else START.add(minutes=minutes)

        with store.write() as s:
            s.execute(
                update(JOBS)
                .where(JOBS.c.id == ids[name])
                .values(
                    status=status,
                    started_at=at(started),
                    ended_at=at(ended),
                    scheduled_at=at(scheduled),
                    status_since=at(since),
                )
            )
    listing = JobListing(store.reader)
    longest_first = ["trapped-since-20", "running-since-30", "ran-50m", "ran-5m"]
    not_timed = {"ready-since-40", "ready-at-70", "never"}
    names = {v: k for k, v in ids.items()}

    def order(column: str) -> list[str]:
        rows = listing.window(JobFilter(), JobSort(column, descending), 0, 100)
        return [names[row.id] for row in rows if row.id in names]

    elapsed = order("elapsed")
    timed = [name for name in elapsed if name not in not_timed]
    assert timed == (longest_first if descending else longest_first[::-1])
    # NULL is the smallest value: untimed jobs come last going down, first going up.
    assert set(elapsed[4:] if descending else elapsed[:3]) == not_timed
    waiting = order("wait")
    ready = [name for name in waiting if name.startswith("ready")]
    assert ready == (["ready-since-40", "ready-at-70"] if descending else ["ready-at-70", "ready-since-40"])
    others = set(shapes) - {"ready-since-40", "ready-at-70"}
    assert set(waiting[2:] if descending else waiting[:-2]) == others
