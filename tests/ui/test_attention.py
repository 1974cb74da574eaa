"""Needs attention (`!`): the jobs waiting for a person, oldest first, and their count in the header."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from textual.content import Content

from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import Status
from jobtui.engine.read.listing import JobSort
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from tests.support.helpers import START
from tests.support.pilot import app_for, monitor, simple, until

Submit = Callable[..., int]


def put(store: Store, job_id: int, status: Status, since_minutes: int) -> None:
    """Test setup: the job in `status` since START plus `since_minutes`."""
    with store.write() as s:
        s.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(status=status.value, status_since=START.add(minutes=since_minutes))
        )


def shown_ids(table: JobTable) -> list[int]:
    return [row.id for index in range(table.total) if (row := table.row_at(index)) is not None]


def bar_text(bar: StatusBar) -> str:
    return str(bar.render())


async def test_bang_shows_only_the_jobs_waiting_for_a_person_oldest_first_and_again_shows_all(
    store: Store, submit: Submit
) -> None:
    ids = [submit(simple(f"job-{n}")) for n in range(7)]
    # Waiting for a person, entered in this order: trapped last, error first.
    put(store, ids[0], Status.TRAPPED, 30)
    put(store, ids[1], Status.FINISHED, 5)
    put(store, ids[2], Status.ERROR, 1)
    put(store, ids[3], Status.RUNNING, 2)
    put(store, ids[4], Status.APPROVAL, 20)
    put(store, ids[5], Status.ABEND, 10)
    # ids[6] stays READY
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 7, "every job")
        order_before = screen.order
        await pilot.press("exclamation_mark")
        waiting = [ids[2], ids[5], ids[4], ids[0]]
        await until(pilot, lambda: shown_ids(table) == waiting, "the jobs that need attention, oldest first")
        assert screen.attention_shown
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: table.total == 7, "every job again")
        assert screen.order == order_before and not screen.attention_shown
        assert sorted(shown_ids(table)) == sorted(ids)


async def test_the_header_always_counts_the_jobs_that_need_attention_and_stands_out_when_any_do(
    store: Store, submit: Submit
) -> None:
    quiet = submit(simple("quiet"))
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: "0 need attention" in bar_text(bar), "the count at zero")
        put(store, quiet, Status.TRAPPED, 1)
        other = submit(simple("other"))
        put(store, other, Status.EXPIRED, 2)
        monitor(pilot).wake(force=True)
        await until(pilot, lambda: "2 need attention" in bar_text(bar), "the count of two")
        text = bar.render()
        assert isinstance(text, Content)
        start = text.plain.index("! 2 need attention")
        styles = [span.style for span in text.spans if span.start <= start < span.end]
        assert any(getattr(style, "reverse", False) for style in styles), styles


async def test_a_sort_key_in_the_needs_attention_view_sorts_by_a_column(store: Store, submit: Submit) -> None:
    """The view's own order (how long each job waited) is no column: the sort keys start from the first."""
    first, second = submit(simple("b")), submit(simple("a"))
    put(store, first, Status.ERROR, 1)
    put(store, second, Status.ERROR, 2)
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: shown_ids(table) == [first, second], "oldest first")
        screen.action_sort(1)
        assert screen.order == JobSort("id", screen.order.descending)
        await until(pilot, lambda: set(shown_ids(table)) == {first, second}, "still the two")


async def test_a_system_job_waiting_for_a_person_is_counted_listed_by_bang_and_alerts(
    store: Store, submit: Submit
) -> None:
    """Hidden with the other system jobs, a trapped one was in no count, no `!` list and no alert: its
    trap timeout ran out unseen (found by QA)."""
    from datetime import timedelta

    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.read.listing import JobListing, scope_of

    ordinary = submit(simple("ordinary"))
    system = submit('name = "rotate-certs"\nsystem = true\n[[run]]\nrun = "true"\n')
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        table, bar = screen.query_one(JobTable), screen.query_one(StatusBar)
        await until(pilot, lambda: shown_ids(table) == [ordinary], "the system job hidden")
        put(store, system, Status.TRAPPED, 1)
        screen.wake(force=True)
        await until(pilot, lambda: "1 need attention" in bar_text(bar), "the system job counted")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: shown_ids(table) == [system], "the system job in the `!` view")
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: shown_ids(table) == [ordinary], "hidden again once `!` closes")
    listing = JobListing(store.reader, scope_of(Actor("tester")))
    entered = listing.entered(frozenset({"TRAPPED"}), 0, START - timedelta(days=1))
    assert [one.job_id for one in entered] == [system]  # what the dashboard alerts about
