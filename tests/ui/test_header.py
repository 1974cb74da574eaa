"""The header at the smallest supported terminal (80x24) and the sort arrow on narrow columns."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.read.listing import SORTABLE, JobSort
from jobtui.widgets.job_table import COLUMNS, GAP, JobTable
from jobtui.widgets.statusbar import StatusBar
from tests.support.pilot import app_for, monitor, until

Submit = Callable[..., int]


def bar_text(bar: StatusBar) -> str:
    return str(bar.render())


async def test_the_header_keeps_the_queue_the_engine_and_frozen_in_80_columns(
    store: Store, submit: Submit
) -> None:
    submit('name = "j"\n[[run]]\nrun = "true"\n')
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: "engine:" in bar_text(bar), "the header")
        await pilot.pause(0.1)
        text = bar_text(bar)
        assert len(text) <= 80, text
        assert "QUEUE RUNNING" in text and "engine:" in text and "live" in text, text
        assert monitor(pilot).engine_label in text, text  # the engine is named whole
        await pilot.press("z")
        await until(pilot, lambda: "FROZEN" in bar_text(bar), "the frozen banner")
        text = bar_text(bar)
        assert len(text) <= 80 and "QUEUE RUNNING" in text and "engine:" in text, text
        await pilot.press("z")
        await pilot.press("P", "y")
        await until(pilot, lambda: "QUEUE PAUSED" in bar_text(bar), "the paused queue")
        text = bar_text(bar)
        assert len(text) <= 80 and "engine:" in text and "live" in text, text


async def test_jobs_due_with_no_engine_and_frozen_fit_in_80_columns(store: Store) -> None:
    """No engine (none started yet, no daemon), a job due and the screen frozen: the header ran to 84
    columns, its end cut off at the screen's edge."""
    from jobtui.widgets.statusbar import BarState

    async with app_for(store).run_test(size=(80, 24)) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await pilot.pause(0.1)
        monitor(pilot).frozen = True  # the poller installs nothing more
        bar.show(
            BarState(
                False, None, {"READY": 1}, "tester", "j.db", "engine: none (no daemon)", True, unserved=1
            )
        )
        text = bar_text(bar)
        assert len(text) <= 80, text
        assert "QUEUE RUNNING" in text and "engine:" in text and "1 due, no engine" in text, text
        assert "FROZEN (z resumes)" in text, text


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize(("lang", "attention"), [("en", "! 0 need attention"), ("es", "! 0 por atender")])
async def test_the_attention_count_is_whole_in_80_columns_in_both_languages_and_read_only(
    store: Store, readonly: bool, lang: str, attention: str
) -> None:
    async with app_for(store, readonly=readonly, lang=lang).run_test(size=(80, 24)) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: monitor(pilot).engine_label in bar_text(bar), "the header")
        text = bar_text(bar)
        assert len(text) <= 80 and attention in text, text


async def test_the_sort_arrow_shows_on_every_column_however_narrow(store: Store) -> None:
    async with app_for(store).run_test(size=(160, 48)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        for descending, arrow in ((False, "▲"), (True, "▼")):
            edge = 0
            for column in table.columns:
                if column.key in SORTABLE:
                    table.set_order(JobSort(column.key, descending))
                    header = table._header().text
                    cell = header[edge : edge + column.width]
                    assert cell.rstrip().endswith(arrow), (column.key, cell)
                edge += column.width + GAP


async def test_a_sort_by_a_column_off_to_the_side_scrolls_its_arrow_into_view(store: Store) -> None:
    """At 80 columns most of the table is off to the right: `>` and `<` through every sortable column,
    the one that sorts is always on screen with its arrow."""
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        sortable = [column for column in COLUMNS if column.key in SORTABLE]
        for key in [">"] * len(sortable) + ["<"] * len(sortable):
            await pilot.press(key)
            await pilot.pause()
            shown = int(table.scroll_x)
            visible = table._header().text[shown : shown + table.scrollable_content_region.width]
            assert "▲" in visible or "▼" in visible, (table.order.column, shown, visible)
            # Each column as an operator reads it first: names A to Z, what needs a person first (a
            # descending status put it last), the newest id first.
            first = {"name": False, "status": False, "step": False, "id": True, "start": True}
            if table.order.column in first:
                assert table.order.descending is first[table.order.column], table.order


async def test_the_header_names_the_database_without_its_password(
    request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    cluster = request.getfixturevalue("pg_cluster")  # trust authentication: the password is not checked
    url = cluster.new_database().replace(f"//{cluster.user}@", f"//{cluster.user}:hunter2-secret@")
    async with app_for(Store(url, clock=clock)).run_test(size=(200, 24)) as pilot:
        bar = monitor(pilot).query_one(StatusBar)
        await until(pilot, lambda: "127.0.0.1" in bar_text(bar), "the header")
        text = bar_text(bar)
        assert f"{cluster.user}:***@127.0.0.1" in text and "hunter2" not in text, text
