"""Below 120 columns the detail pane keeps its info and tasks readable and leaves the log to `l` and `Z`;
at 80x24 a dialog shows every line it has and the job table's cursor row stays above its scrollbar; the info
block, which scrolls at that height, shows each newly selected job from its top."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from textual.containers import VerticalScroll

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import Status, status_label
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.i18n import audit_status_text, envelope_status_text, t
from jobtui.screens.dialogs import AuditScreen, HelpScreen, TrapDialog
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.status_style import ENVELOPE_SYMBOLS, SYMBOLS
from tests.support.helpers import run_until_status
from tests.support.pilot import app_for, monitor, painted, select_job, shown_job, simple, until

Submit = Callable[..., int]


async def test_at_80_columns_the_pane_shows_info_and_tasks_and_zoom_brings_the_log_back(
    store: Store, submit: Submit
) -> None:
    job = submit(simple("narrow"))
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == job, "the job's detail")
        await pilot.pause(0.1)
        tabs, tasks = screen.query_one("#detail-tabs"), screen.query_one("#detail-tasks")
        assert tabs.region.width == 0 and tasks.region.width >= 30  # was ~17 beside the log
        screen.query_one("#tasks-table").focus()
        await pilot.press("Z")
        assert isinstance(screen.maximized, DetailPane)
        await pilot.pause(0.1)
        # Zoomed, the pane fills the screen and has its log again, under the info and tasks, the whole
        # width of the screen (beside them it had 17 columns and ran into the tasks' text).
        assert screen.query_one(DetailPane).region.height >= 22
        assert tabs.region.width == 80 and tabs.region.y > tasks.region.y and tasks.region.width >= 30
        await pilot.press("Z")
        screen.query_one(JobTable).focus()


async def test_at_160_columns_the_log_stays_on_screen_under_the_tasks(store: Store, submit: Submit) -> None:
    job = submit(simple("wide"))
    async with app_for(store).run_test(size=(160, 40)) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == job, "the job's detail")
        await pilot.pause(0.1)
        tabs, tasks = screen.query_one("#detail-tabs"), screen.query_one("#detail-tasks")
        # The log beside the steps, under the tasks, which have the width right of the info block.
        assert tabs.region.width > 30 and tabs.region.y > tasks.region.y and tasks.region.width > 100
        # The tasks table shows every column without scrolling.
        shown = " | ".join(" ".join(line.split()) for line in painted(screen)[0].splitlines())
        assert "Target Status Current step Progress Last triggered Attempts Next attempt" in shown
        assert "wide Scheduled - ░░░░░ 0% - 0" in shown
        screen.query_one("#tasks-table").focus()
        await pilot.press("Z")
        await pilot.pause(0.1)
        assert screen.query_one(DetailPane).region.height >= 38, "zoomed, the pane fills the screen"


@pytest.mark.parametrize("name", ["t", "nightly-rollout-of-the-payments-gateway-" + "x" * 60])
async def test_at_80x24_the_trap_dialog_shows_its_hint_inside_its_border(
    store: Store, submit: Submit, engine: Engine, name: str
) -> None:
    """The hint naming the keys that retry, skip and abort is the dialog's last line: at 24 rows it fell on
    the bottom border and was not painted at all (and again with a job name long enough to wrap)."""
    job = submit(f'name = "{name}"\n[[run]]\nrun = "false"\non_error = "trap"\n')
    run_until_status(engine, job, "TRAPPED")
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        await select_job(pilot, job)
        await until(pilot, lambda: monitor(pilot).check_action("trap", ()) is True, "the trap key")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(pilot.app.screen, TrapDialog), "the trap dialog")
        await pilot.pause(0.1)
        dialog = pilot.app.screen.query_one(".dialog")
        for part in dialog.children:
            assert dialog.content_region.contains_region(part.region), part
        text, _ = painted(pilot.app.screen)
        for line in (t("trap.hint"), t("trap.retry"), t("trap.comment"), "Trapped op: "):
            assert line in text, line


@pytest.mark.parametrize("size", [(80, 24), (200, 30)])
async def test_the_last_job_s_row_shows_above_the_table_s_horizontal_scrollbar(
    store: Store, submit: Submit, size: tuple[int, int]
) -> None:
    """The table is wider than the terminal, so its last line is a scrollbar: `G` (or `j` down to the end)
    scrolled the last job's row under it, the detail pane showing a job no visible row was highlighted for."""
    jobs = [submit(simple(f"job-{n}")) for n in range(20)]  # more rows than the table has lines
    async with app_for(store).run_test(size=size) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: shown_job(pilot) == jobs[-1], "the newest job selected")
        for keys in (["G"], ["k", "j"]):  # a jump to the end, and a step down onto the last row
            await pilot.press(*keys)
            await until(pilot, lambda: shown_job(pilot) == jobs[0], "the last job in the detail pane")
            await pilot.pause()
            bar = table.horizontal_scrollbar.region
            assert table.show_horizontal_scrollbar and bar.height == 1
            line = table.content_region.y + table.cursor - int(table.scroll_y) + 1  # under the header
            assert table.content_region.y < line < bar.y, (line, bar)
            text, _ = painted(screen)
            assert text.splitlines()[line].lstrip("▌").startswith(f"{jobs[0]} "), text.splitlines()[line]


async def test_the_info_block_shows_another_job_from_its_top_and_the_same_job_where_it_was(
    store: Store, submit: Submit, actions: Actions
) -> None:
    """At 24 rows the info block scrolls; scrolled down, it stayed scrolled for every job the cursor went
    to, the job's name and status out of sight. A new read of the same job must not lose the place."""
    first, second = submit(simple("first")), submit(simple("second"))
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        screen = monitor(pilot)
        pane = screen.query_one(DetailPane)
        await until(pilot, lambda: shown_job(pilot) == second, "the newest job's detail")
        info = screen.query_one("#detail-info-scroll", VerticalScroll)
        await until(pilot, lambda: info.max_scroll_y > 0, "an info block taller than the pane")
        info.focus()
        await pilot.press("pagedown")
        await until(pilot, lambda: info.scroll_y > 0, "the info block scrolled")
        shown = pane.shown
        actions.reschedule(second, "+2h")  # the job changes: the pane reads it again
        await until(pilot, lambda: pane.shown is not shown, "the job read again")
        await pilot.pause()
        assert shown_job(pilot) == second and info.scroll_y > 0
        screen.query_one(JobTable).focus()
        await pilot.press("down")
        await until(pilot, lambda: shown_job(pilot) == first, "the other job in the detail pane")
        await pilot.pause()
        assert info.scroll_y == 0
        text, _ = painted(screen)
        assert f"#{first} first" in text


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_at_80x24_the_help_shows_every_status_symbol_with_its_whole_name(
    store: Store, lang: str
) -> None:
    """Three fixed pairs of columns did not fit 80 columns: Rich squeezed them, the symbols went first and
    the longer Spanish names were cut ("Pendiente de aprobaci…")."""
    async with app_for(store, lang=lang).run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help")
        keys = pilot.app.screen.query_one("#keys", VerticalScroll)
        await pilot.press("end")
        await until(pilot, lambda: keys.max_scroll_y > 0 and keys.scroll_y == keys.max_scroll_y, "its end")
        text, _ = painted(pilot.app.screen)
        assert t("help.envelope_legend", lang) in text
        for envelope_status, symbol in ENVELOPE_SYMBOLS.items():
            assert f"{symbol} {envelope_status_text(envelope_status, lang)}" in text, envelope_status
        assert t("help.legend", lang) in text
        for status in Status:
            assert f"{SYMBOLS[status]} {status_label(status, lang)}" in text, status


WHY = (
    "the change board moved the network maintenance window; rerun it once the core switches are patched "
    "(ticket OPS-4711 has the approvals)"
)


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_at_80x24_the_audit_trail_shows_local_times_and_the_whole_comment(
    store: Store, submit: Submit, actions: Actions, lang: str
) -> None:
    """Each row was one line of fixed columns with a raw ISO time ("2026-11-23T10:00:00+00:00"): at 80
    columns the transition and the comment, the why, were past the right edge."""
    job = submit(simple("patch-switches"))
    actions.cancel(job, WHY)
    app = JobtuiApp(store, Actor("tester"), embedded=False, tz="Europe/Zurich", lang=lang)
    async with app.run_test(size=(80, 24)) as pilot:
        await select_job(pilot, job)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, AuditScreen), "the audit trail")
        await pilot.pause(0.1)
        text, _ = painted(app.screen)
        assert "2026-11-23 11:00:00" in text and "T10:00" not in text  # Zurich is UTC+1 in November
        canceled = f"{audit_status_text('READY', lang)} → {audit_status_text('CANCELED', lang)}"
        assert canceled in text
        # The comment wraps over the lines under its row, inside the dialog.
        inside = app.screen.query_one(".dialog").content_region
        lines = [line[inside.x : inside.right] for line in text.splitlines()[inside.y : inside.bottom]]
        assert WHY in " ".join(" ".join(lines).split())


@pytest.mark.parametrize(("size", "shown"), [((80, 24), 2), ((160, 48), 4)])
async def test_only_the_newest_toasts_show_as_many_as_the_screen_has_room_for(
    store: Store, size: tuple[int, int], shown: int
) -> None:
    """At 80x24 four stacked toasts hid half the job table, or a dialog's keys."""
    async with app_for(store).run_test(size=size) as pilot:
        for n in range(6):
            pilot.app.notify(f"toast {n}")
        await until(pilot, lambda: "toast 5" in [n.message for n in pilot.app._notifications], "the last")
        assert [n.message for n in pilot.app._notifications] == [f"toast {n}" for n in range(6 - shown, 6)]


def _table_lines(pilot: object, rows: int = 2) -> list[list[str]]:
    """The job table's header and first rows as painted, each split into its cells (runs of text apart by
    two spaces or more)."""
    table = monitor(pilot).query_one(JobTable)  # type: ignore[arg-type]
    lines = painted(pilot.app.screen)[0].splitlines()  # type: ignore[attr-defined]
    y, x = table.content_region.y, table.content_region.x
    return [
        [cell for cell in re.split(r"\s{2,}", line[x : x + table.size.width].strip()) if cell]
        for line in lines[y : y + rows]
    ]


@pytest.mark.parametrize("focused", [True, False])
async def test_at_160_columns_no_column_is_cut_by_the_screens_edge(
    store: Store, submit: Submit, focused: bool
) -> None:
    """Max Start showed "12-07 1" (the focus border took a cell) or "12-07 19:": a cut date reads as a date.
    The column the screen cannot hold whole starts past its edge; the Job column takes the cells."""
    job = submit(simple("wide"), at="+1h")
    async with app_for(store).run_test(size=(160, 48)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: shown_job(pilot) == job and table.has_focus, "the job's detail")
        if not focused:  # the focus border gone, the table has one more cell
            monitor(pilot).query_one("#tasks-table").focus()
            await until(pilot, lambda: not table.has_focus, "the focus elsewhere")
        await pilot.pause(0.1)
        header, row = _table_lines(pilot)
        assert header[-1] == "Scheduled", header  # "Max Start" whole or not at all
        assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d", row[-1]), row


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_at_80_columns_status_step_and_progress_show_before_type_and_project(
    store: Store, submit: Submit, lang: str
) -> None:
    """The manual: "Always check the Step column". At 80x24 the table showed ID, Job, Type, Project and
    Status; Type and Project now follow Progress, a scroll away."""
    submit(simple("narrow"))
    async with app_for(store, lang=lang).run_test(size=(80, 24)) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the row")
        await pilot.pause(0.1)
        header, row = _table_lines(pilot)
        labels = [t(f"col.{key}", lang) for key in ("name", "status", "step", "progress")]
        assert header == [f"{t('col.id', lang)} ▼", *labels], header
        ready = f"{SYMBOLS[Status.READY]} {status_label(Status.READY, lang)}"
        assert row == ["1", "narrow", ready, "INIT", "░░░░░░░░░░", "0%"], row
        assert [c.key for c in table.columns][5:7] == ["type", "project"]  # still there, to the right
