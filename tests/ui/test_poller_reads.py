"""What the dashboard's refresh loop reads: the header's counts only when the database changed, and no
more often than their cost allows; a cursor move reads the job under it, not the counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.errors import ReadFailed
from jobtui.engine.read.listing import JobFilter, JobListing, JobSort
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import HelpScreen
from jobtui.screens.monitor_poller import BAR_GAP_PER_READ_S, Fetched, Poller, Query, ViewState
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from tests.support.helpers import run_until_status
from tests.support.pilot import SIZE, app_for, monitor, shown_job, simple, until

Submit = Callable[..., int]


async def test_a_held_arrow_key_reads_the_jobs_under_it_not_the_headers_counts(
    store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key of a held arrow read every count of the header again, and the table's total, though
    nothing had changed: on PostgreSQL, which counts every job it shows, seconds a key at a million jobs.
    Keys come faster than reads: a read that lands after the cursor moved on is read again, and that
    read the counts too (found by review)."""
    ids = [submit(simple(f"job-{n}")) for n in range(30)]
    header_reads = 0
    read_flags = JobListing.queue_flags  # read once with each reading of the header's counts

    def counted(self: JobListing) -> tuple[bool, str | None]:
        nonlocal header_reads
        header_reads += 1
        return read_flags(self)

    monkeypatch.setattr(JobListing, "queue_flags", counted)
    async with app_for(store).run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 30 and shown_job(pilot) == ids[-1], "the newest job")
        before = header_reads
        for n in range(25):
            pilot.app.simulate_key("down")  # as a terminal repeats a held key: no waiting for the screen
            if n % 3 == 0:
                await pilot.pause(0.01)  # reads finish in between, some begun before the latest keys
        await until(pilot, lambda: shown_job(pilot) == ids[-26], "the detail of the job under the cursor")
    # The dashboard's start may still read the header once or twice (the Store opening).
    assert header_reads - before <= 2


class _Host:
    """The screen as the poller sees it: every job, by id, newest first."""

    def job_query(self) -> Query:
        return Query(JobFilter(), JobSort(), frozen=False, engine_label="daemon")

    def watched_envelope(self) -> tuple[bool, int | None]:
        return False, None


def _fetch(poller: Poller) -> Fetched | None:
    view = ViewState(visible=10, top=0, cursor=0, selected=None, moves=0, envelopes=False, envelope_id=None)
    fetched = poller._fetch(view)
    assert fetched is None or isinstance(fetched, Fetched)
    return fetched


def test_slow_header_counts_follow_the_changes_at_a_distance_while_the_rows_follow_each_one(
    store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the counts take long to read (PostgreSQL counting a million jobs), reading them at every
    change of a busy database kept the rows and the detail waiting behind them."""
    backend = app_for(store).backend
    poller = Poller(backend, _Host(), lambda f, *a: f(*a), readonly=False, lang="en", db_label="db")  # type: ignore[arg-type]
    now = [1000.0]
    poller._monotonic = lambda: now[0]
    listing = backend.listing
    counts = listing.status_counts

    def one_second_each(*args: Any, **kw: Any) -> dict[str, int]:
        now[0] += 1.0  # what a read of the counts costs there
        return counts(*args, **kw)

    monkeypatch.setattr(listing, "status_counts", one_second_each)
    submit(simple("first"))
    first = _fetch(poller)
    assert first is not None and first.bar is not None and sum(first.bar.counts.values()) == 1
    cost = now[0] - 1000.0
    assert cost > 0

    submit(simple("second"))
    changed = _fetch(poller)
    assert (
        changed is not None and changed.total == 2 and [r.name for r in changed.rows] == ["second", "first"]
    )
    assert changed.bar is None  # read again later, not at the cost of this refresh
    assert poller._nothing_new()

    now[0] += cost * BAR_GAP_PER_READ_S
    assert not poller._nothing_new()  # not forgotten: the loop comes back for it, nothing changed since
    later = _fetch(poller)
    assert later is not None and later.bar is not None and sum(later.bar.counts.values()) == 2
    assert poller._nothing_new()


async def test_the_header_goes_on_counting_under_a_dialog(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """Under a dialog or the log viewer the table holds still, and so did the header, though it said
    "live": a job that needed a person meanwhile was alerted while the header still counted none."""
    submit(simple("first"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        bar = screen.query_one(StatusBar)
        await until(pilot, lambda: bar._state is not None and bar._state.counts == {"READY": 1}, "the header")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
        waiting = submit(simple("needs-ok", "approval = true"))
        run_until_status(engine, waiting, "APPROVAL")
        await until(pilot, lambda: bar._state is not None and bar._state.attention == 1, "the header's count")
        assert isinstance(pilot.app.screen, HelpScreen)
        assert screen.query_one(JobTable).total == 1  # the table holds still meanwhile


def test_counts_read_by_a_refresh_that_then_failed_are_read_again(store: Store, submit: Submit) -> None:
    """Found by review: the counts were marked read before the refresh ended; one that failed after them
    (the database locked as the shown job's log was read) left the header a change behind until the next
    change."""
    poller = Poller(
        app_for(store).backend, _Host(), lambda f, *a: f(*a), readonly=False, lang="en", db_label="db"
    )  # type: ignore[arg-type]
    poller._monotonic = lambda: 1000.0  # reads take no time: the counts may always be read again
    first = submit(simple("first"))
    view = ViewState(visible=10, top=0, cursor=0, selected=first, moves=0, envelopes=False, envelope_id=None)
    shown = poller._fetch(view)
    assert isinstance(shown, Fetched) and shown.bar is not None
    poller._shown, poller._shown_log = (first, shown.rows[0].seq), first  # the pane shows it, and its log

    def locked(*args: Any) -> tuple[str, bool]:
        raise ReadFailed(OSError("database is locked"))

    read_log, poller._log_tail.read = poller._log_tail.read, locked  # type: ignore[method-assign]
    submit(simple("second"))
    with pytest.raises(ReadFailed):
        poller._fetch(view)
    poller._log_tail.read = read_log  # type: ignore[method-assign]
    again = poller._fetch(view)
    assert isinstance(again, Fetched) and again.bar is not None and sum(again.bar.counts.values()) == 2
