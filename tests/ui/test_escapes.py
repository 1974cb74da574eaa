"""Data never drives the terminal through the dashboard (issue 14, item 5): a job's name, type, target,
op name, comment and output, an envelope's name and a toast quoting them are painted as plain text with
their control characters shown (`^[`, `\\x9b`); markup in them neither parses (a `[/]` crashed the
dashboard) nor renders (`[link=…]` made a hyperlink).

What is checked is what Textual paints: the segments of the screen's strips (`_compositor.render_strips`),
their text and their styles' links.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import DataTable, TabbedContent
from textual.widgets._toast import Toast

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.formats.envelope_file import envelope_of_files
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import ConfirmDialog
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.task_table import TaskTable
from tests.support.helpers import run_until_status
from tests.support.hostile import (
    HOSTILE_OUTPUT_RUN,
    MARKUP,
    PAYLOADS,
    controls_in,
    hostile_definition,
    shown,
)
from tests.support.pilot import SIZE, app_for, monitor, open_envelopes, painted, select_job, until

WIDE = (SIZE[0] + 120, SIZE[1])  # long names fit on the screen whole


def assert_plain(screen: Screen[Any], *expected: str) -> str:
    text, links = painted(screen)
    assert controls_in(text) == [], [line for line in text.splitlines() if controls_in(line)]
    assert links == []
    for part in expected:
        assert part in text, part
    return text


def cells(table: DataTable[Any] | TaskTable) -> list[Any]:
    return [cell for row in range(table.row_count) for cell in table.get_row_at(row)]


@pytest.mark.parametrize("payload", [PAYLOADS["all"], MARKUP], ids=["all", "markup"])
async def test_job_data_is_painted_as_plain_visible_text(
    payload: str, store: Store, actions: Actions, engine: Engine, submit: Any
) -> None:
    job_id = int(submit(hostile_definition(payload, run=HOSTILE_OUTPUT_RUN, approval=True)))
    run_until_status(engine, job_id, "APPROVAL")
    actions.approve(job_id, "c" + payload)
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=WIDE, notifications=True) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        pane = screen.query_one(DetailPane)
        steps = screen.query_one("#steps-table", DataTable)
        await until(pilot, lambda: steps.row_count == 1, "the steps table")
        await pilot.pause(0.2)
        # The job table (a name cut to its column), the info block, the tasks and steps tables.
        assert_plain(
            screen,
            shown("n" + payload)[:20],
            shown("n" + payload)[:30],  # the info block wraps it
            "[" + shown("t" + payload)[:30],
            shown("h" + payload)[:100],  # the cells hold them whole (below); the columns cut them
            shown("o" + payload)[:100],
            "out\ufffd end",  # op output: the log pane drops escape sequences (as it did before)
        )
        assert screen.query_one(JobTable).size.width > 0
        # Every cell holding data is Text, never a string DataTable would read as markup.
        for table_id, data in (("#tasks-table", "h"), ("#steps-table", "o"), ("#audit-table", "c")):
            table = pane.query_one(table_id, TaskTable if table_id == "#tasks-table" else DataTable)
            plain = [cell.plain for cell in cells(table) if isinstance(cell, Text)]
            assert shown(data + payload) in plain, table_id
            assert all(isinstance(cell, Text) for cell in cells(table)), table_id
        # The audit trail, with the comment.
        screen.query_one("#detail-tabs", TabbedContent).active = "tab-audit"
        await pilot.pause(0.2)
        assert_plain(screen, shown("c" + payload)[:10])
        # A toast quoting the job (as the refusals and engine errors do), titled with it too.
        screen.notify(f"toast {job_id}: {'n' + payload}", title="title" + payload, severity="error")
        await until(pilot, lambda: bool(pilot.app.screen.query("Toast")), "the toast")
        await pilot.pause(0.2)
        assert_plain(pilot.app.screen, f"toast {job_id}:", shown("title" + payload)[:16])
        (toast,) = pilot.app.screen.query(Toast)
        assert toast.render().plain == f"{shown('title' + payload)}\ntoast {job_id}: {shown('n' + payload)}"


async def test_envelope_tree_paints_names_as_plain_visible_text(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    payload = PAYLOADS["all"]
    paths = []
    for n in (1, 2):
        path = tmp_path / f"job{n}.toml"
        path.write_text(hostile_definition(f"{n}{payload}"))
        paths.append(str(path))
    EnvelopeActions(actions).submit(envelope_of_files(paths, "e" + payload))
    async with app_for(store).run_test(size=WIDE) as pilot:
        tree = await open_envelopes(pilot)
        await until(pilot, lambda: len(tree.root.children) >= 2, "the envelope")
        tree.root.children[0].expand()
        await pilot.pause(0.3)
        assert_plain(monitor(pilot), f"{shown('e' + payload)}", shown(f"n1{payload}"), shown(f"n2{payload}"))


async def test_a_dialog_about_a_job_paints_its_name_as_plain_visible_text(store: Store, submit: Any) -> None:
    payload = PAYLOADS["all"]
    job_id = int(submit(hostile_definition(payload)))
    async with app_for(store).run_test(size=WIDE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("c")  # cancel: a question naming the job
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        await pilot.pause(0.2)
        assert_plain(pilot.app.screen, shown("n" + payload)[:40])


async def test_a_refusal_in_the_palette_paints_the_job_it_names_as_plain_visible_text(
    store: Store, engine: Engine, clock: FakeClock, submit: Any
) -> None:
    """The palette shows why a command is refused in the engine's words, which quote data: here the name
    of the job that ran since, which makes Retry a refusal."""
    payload = PAYLOADS["all"]
    failed = int(submit('name = "failed"\n[[run]]\nrun = "false"\n'))
    run_until_status(engine, failed, "ERROR")
    clock.advance(5)
    later = int(submit(hostile_definition(payload)))
    run_until_status(engine, later, "FINISHED")
    async with app_for(store).run_test(size=WIDE) as pilot:
        await select_job(pilot, failed)
        await until(pilot, lambda: monitor(pilot).check_action("retry", ()) is None, "retry dimmed")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
        await pilot.press(*"Retry")
        reason = f"retry: job {later} ({shown('n' + payload)}) of project default has run since"
        await until(pilot, lambda: reason in painted(pilot.app.screen)[0], "the refusal in the palette")
        assert_plain(pilot.app.screen, reason, MARKUP)
