"""Jump and copy: `:42` moves the cursor to job 42 (clearing a filter hiding it), `:q` quits, `Y` copies."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from jobtui.engine.db.store import Store
from jobtui.engine.read.listing import JobSort
from jobtui.screens.monitor import MonitorScreen
from jobtui.screens.monitor_poller import ViewState
from jobtui.widgets.job_table import JobTable
from tests.support.pilot import app_for, monitor, shown_job, simple, until

Submit = Callable[..., int]


async def test_colon_and_a_job_id_moves_the_cursor_to_that_job_without_filtering_the_others(
    store: Store, submit: Submit
) -> None:
    ids = [submit(simple(f"job-{n}")) for n in range(60)]
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 60, "every job")
        target = ids[7]  # far below the first screen (newest first)
        await pilot.press("colon", *str(target), "enter")
        await until(pilot, lambda: table.selected_job_id() == target, f"the cursor on job {target}")
        await until(pilot, lambda: shown_job(pilot) == target, f"job {target} in the detail pane")
        assert table.total == 60  # nothing filtered away
        top = int(table.scroll_y)
        assert top <= table.cursor < top + table.rows_visible  # and it is on screen


async def test_a_job_hidden_by_the_filter_clears_it_and_an_unknown_job_says_so(
    store: Store, submit: Submit
) -> None:
    pay = submit(simple("pay-1"))
    submit(simple("web-1"))
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 2, "both jobs")
        await pilot.press("slash", *"web", "enter")
        await until(pilot, lambda: table.total == 1, "the filter")
        await pilot.press("colon", *str(pay), "enter")
        await until(pilot, lambda: table.total == 2 and table.selected_job_id() == pay, "job pay-1 again")
        assert screen.filter.text == ""
        await pilot.press("colon", *"999", "enter")
        await until(
            pilot,
            lambda: any("No job 999" in str(n.message) for n in pilot.app._notifications),
            "the notice that there is no job 999",
        )
        assert table.selected_job_id() == pay


async def test_an_id_past_what_a_database_holds_finds_no_job_and_the_dashboard_goes_on(
    store: Store, submit: Submit
) -> None:
    """Found by review: the id went to the database as it was typed, and SQLite's "Python int too large
    to convert to SQLite INTEGER" stopped the dashboard (`/#…` the same; `²` is a digit to isdigit() and
    no number to int())."""
    submit(simple("web-1"))
    huge = "99999999999999999999999999"
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the job")

        def said(text: str) -> bool:
            return any(text in str(n.message) for n in pilot.app._notifications)

        await pilot.press("colon", *huge, "enter")
        await until(pilot, lambda: said(f"No job {huge}"), "no such job said")
        await pilot.press("colon", "²", "enter")
        await until(pilot, lambda: said("Unknown command: ²"), "an unknown command said")
        await pilot.press("slash", *f"#{huge}", "enter")
        await until(pilot, lambda: table.total == 0, "a filter that matches no job")
        assert pilot.app.is_running
        await pilot.press("escape", "colon", "q", "enter")
        await until(pilot, lambda: not pilot.app.is_running, "the app to exit")
    assert pilot.app.return_code == 0


async def test_with_no_job_selected_the_keys_that_read_one_say_so(store: Store, submit: Submit) -> None:
    """l, u, Y with a filter that matches nothing: "No job selected", as n and the action keys say, not
    nothing at all."""
    submit(simple("web-1"))
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the job")
        await pilot.press("slash", *"nomatch", "enter")
        await until(pilot, lambda: table.total == 0 and shown_job(pilot) is None, "an empty list")
        for key in ("l", "u", "Y"):
            pilot.app.clear_notifications()
            await pilot.press(key)
            await until(
                pilot,
                lambda: [str(n.message) for n in pilot.app._notifications] == ["No job selected"],
                f"{key} to say no job is selected",
            )
            assert pilot.app.screen is screen


async def test_colon_q_quits(store: Store) -> None:
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        await pilot.press("colon", "q", "enter")
        await until(pilot, lambda: not pilot.app.is_running, "the app to exit")
    assert pilot.app.return_code == 0


async def test_shift_y_copies_the_selected_job_id_through_the_terminal_clipboard(
    store: Store, submit: Submit
) -> None:
    first = submit(simple("one"))
    second = submit(simple("two"))
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: shown_job(pilot) == second, "the newest job selected")
        await pilot.press("Y")
        assert pilot.app.clipboard == str(second)
        await pilot.press("down")
        await until(pilot, lambda: shown_job(pilot) == first, "the other job")
        await pilot.press("Y")
        assert pilot.app.clipboard == str(first) and table.selected_job_id() == first


async def test_shift_z_fills_the_screen_with_the_focused_part_and_again_restores_it(
    store: Store, submit: Submit
) -> None:
    from jobtui.widgets.detail import DetailPane

    submit(simple("one"))
    async with app_for(store).run_test(size=(100, 30)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1 and shown_job(pilot) is not None, "the job")
        await pilot.press("Z")
        assert screen.maximized is table
        await pilot.press("Z")
        assert screen.maximized is None
        await pilot.press("tab")  # the detail pane's first part
        await until(pilot, lambda: screen.focused is not table, "the focus in the detail pane")
        await pilot.press("Z")
        assert isinstance(screen.maximized, DetailPane)
        await pilot.press("Z")
        assert screen.maximized is None


async def test_a_new_sort_shows_the_top_of_the_list(store: Store, submit: Submit) -> None:
    for n in range(50):
        submit(simple(f"job-{n:02}"))
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 50, "every job")
        for _ in range(30):
            await pilot.press("down")
        await until(pilot, lambda: table.cursor == 30 and int(table.scroll_y) > 0, "the cursor far down")
        screen._set_order(JobSort("name", False))
        first = None

        def at_top() -> bool:
            nonlocal first
            row = table.row_at(0)
            first = row.id if row is not None and row.name == "job-00" else None
            return first is not None and table.cursor == 0 and int(table.scroll_y) == 0

        await until(pilot, at_top, "the top of the new order")
        await until(pilot, lambda: shown_job(pilot) == first, "its first job in the detail pane")


TWENTY = 20


class HeldRead:
    """Holds the dashboard's next read of the list in flight (on its worker thread) until released."""

    def __init__(self, screen: MonitorScreen) -> None:
        self.began = threading.Event()
        self.release = threading.Event()
        poller = screen._poller
        read = poller._fetch

        def held(view: ViewState) -> object:
            if not self.began.is_set():
                self.began.set()
                self.release.wait(10)
            return read(view)

        poller._fetch = held  # type: ignore[method-assign]


async def cursor_down_with_its_detail(pilot: Pilot[int], rows: int) -> tuple[MonitorScreen, JobTable]:
    """The monitor of TWENTY jobs with the cursor `rows` down and the pane showing that job."""
    screen = monitor(pilot)
    table = screen.query_one(JobTable)
    await until(pilot, lambda: table.total == TWENTY, "every job")
    await pilot.press(*["down"] * rows)
    await until(pilot, lambda: shown_job(pilot) == table.selected_job_id(), "the detail under the cursor")
    return screen, table


def place_cursor(screen: MonitorScreen, how: str, ids: list[int]) -> int:
    """Sort by name or jump to the fourth job: the screen places the cursor itself. Returns the job it
    goes to."""
    if how == "new sort":
        screen._set_order(JobSort("name", False))
        return ids[0]  # job-00: first by name
    screen._jumped(ids[3], screen.filter)
    return ids[3]


async def stays_on(pilot: Pilot[int], table: JobTable, job_id: int) -> None:
    await until(pilot, lambda: shown_job(pilot) == job_id, f"job {job_id} in the detail pane")
    await pilot.pause(0.3)  # reads after: none may move the cursor off it again
    assert table.selected_job_id() == job_id and shown_job(pilot) == job_id


@pytest.mark.parametrize("how", ["new sort", "jump"])
async def test_a_read_begun_before_a_new_sort_or_a_jump_never_puts_the_cursor_back(
    store: Store, submit: Submit, how: str
) -> None:
    """The read in flight was begun for the job under the cursor: once it lands, the cursor and the pane
    stay where the sort (the first row) or the jump put them."""
    ids = [submit(simple(f"job-{n:02}")) for n in range(TWENTY)]
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        screen, table = await cursor_down_with_its_detail(pilot, 8)
        held = HeldRead(screen)
        screen.wake(force=True)
        await asyncio.to_thread(held.began.wait, 10)
        target = place_cursor(screen, how, ids)
        held.release.set()
        await stays_on(pilot, table, target)


@pytest.mark.parametrize("how", ["new sort", "jump"])
async def test_a_key_handled_just_before_a_new_sort_or_a_jump_never_puts_the_cursor_back(
    store: Store, submit: Submit, how: str
) -> None:
    """A key's move reaches the screen after the table took it (a message): when a sort or a jump comes in
    between, the cursor and the pane stay where the sort or the jump put them, and follow that job."""
    ids = [submit(simple(f"job-{n:02}")) for n in range(TWENTY)]
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        screen, table = await cursor_down_with_its_detail(pilot, 4)
        placed: list[int] = []

        def key_then_placed() -> None:
            table.action_cursor(1)  # its CursorMoved is still queued when the sort or the jump runs
            placed.append(place_cursor(screen, how, ids))

        screen.call_later(key_then_placed)
        await until(pilot, lambda: bool(placed), "the sort or the jump")
        await stays_on(pilot, table, placed[0])
        submit(simple("job-newest"))  # a new row above it in the jump's order: the cursor follows its job
        await until(pilot, lambda: table.total == TWENTY + 1, "the new job")
        await stays_on(pilot, table, placed[0])
