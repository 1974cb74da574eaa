"""The line above the job table: the filter in force with "N of M jobs", an empty result, a fresh database."""

from __future__ import annotations

from collections.abc import Callable

from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.screens.dialogs import StatusPicker
from jobtui.widgets.filterline import FilterLine
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.statusbar import StatusBar
from tests.support.pilot import app_for, monitor, painted, simple, until

Submit = Callable[..., int]


async def test_a_fresh_database_says_how_to_submit_a_job_or_start_the_demo(store: Store) -> None:
    """Whole at 80 columns (`jobtui demo` was cut off), and a filter turned on says it is on."""
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        line = monitor(pilot).query_one(FilterLine)
        await until(pilot, lambda: "No jobs yet" in line.said, "the empty-state hint")
        assert "jobtui submit FILE.toml" in line.said and "jobtui demo" in line.said
        assert line.display and not line.has_class("hidden")
        assert line.said in painted(monitor(pilot))[0]
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: "needs attention" in line.said, "the attention view said")


async def test_the_filter_in_force_shows_with_how_many_jobs_match_and_says_when_none_do(
    store: Store, submit: Submit
) -> None:
    for name in ("pay-1", "pay-2", "web-1", "web-2", "ops-1"):
        submit(simple(name))
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        line, table = screen.query_one(FilterLine), screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 5, "every job")
        assert line.has_class("hidden") and line.said == ""  # no filter: nothing to say
        await pilot.press("slash", *"pay")
        # "pa" matches the same two jobs: wait for the whole text, not only for the count it shares.
        await until(pilot, lambda: "text: pay (Esc clears)" in line.said, "the text typed")
        assert line.said.startswith("2 of 5 jobs") and not line.has_class("hidden")
        await pilot.press(*"-9")
        await until(pilot, lambda: line.said.startswith("0 of 5 jobs"), "0 of 5")
        assert "Nothing matches" in line.said and line.has_class("nothing-shown")
        assert "Esc clears the text" in line.said  # and how to get jobs back
        await pilot.press("escape")
        await until(pilot, lambda: table.total == 5 and line.has_class("hidden"), "the filter cleared")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the status picker")
        await pilot.press("space", "enter")  # Ready, the first status
        await until(pilot, lambda: "status: Ready" in line.said, "the status filter")
        assert line.said.startswith("5 of 5 jobs"), line.said


async def test_when_nothing_matches_it_says_only_what_would_bring_jobs_back(
    store: Store, submit: Submit
) -> None:
    """Found by an operator: "Esc clears the text" with no text typed (the attention view, a status)."""
    submit(simple("pay-1"))
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        line, table = screen.query_one(FilterLine), screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the job")
        await pilot.press("exclamation_mark")  # a Ready job needs nobody
        await until(pilot, lambda: line.said.startswith("0 of 1 jobs"), "0 of 1")
        assert line.said.endswith("Nothing matches: ! again shows every job"), line.said
        await pilot.press("exclamation_mark", "slash", *"nope", "enter")
        await until(pilot, lambda: "text: nope" in line.said and table.total == 0, "the text filter")
        assert line.said.endswith("Nothing matches: Esc clears the text"), line.said


async def test_the_header_counts_follow_the_filter_and_say_so(
    store: Store, submit: Submit, actions: Actions
) -> None:
    for name in ("pay-1", "pay-2", "web-1", "web-2"):
        submit(simple(name))
    actions.cancel(submit(simple("pay-old")))
    async with app_for(store).run_test(size=(200, 40)) as pilot:
        screen = monitor(pilot)
        bar, table = screen.query_one(StatusBar), screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 5, "every job")
        assert "\u25cb4 " in bar_text(bar) and "\u25a01 " in bar_text(bar)  # 4 ready, 1 canceled: all of them
        assert "shown:" not in bar_text(bar)
        await pilot.press("slash", *"pay")
        await until(pilot, lambda: "shown: \u25cb2 \u25a01 " in bar_text(bar), "the counts of the pay jobs")
        await pilot.press(*"xyz")  # matches no job: says so, not "shown:" with nothing after it
        await until(pilot, lambda: table.total == 0 and "shown: none " in bar_text(bar), "no job shown")
        await pilot.press("escape")
        await until(pilot, lambda: "shown:" not in bar_text(bar) and "\u25cb4 " in bar_text(bar), "all again")


def bar_text(bar: StatusBar) -> str:
    return str(bar.render())
