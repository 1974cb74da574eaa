"""`f`: the status picker. Space ticks, Enter applies; presets a (needs attention), r, x (failed), 0 (all)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update
from textual.widgets import Button

from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import NEEDS_ATTENTION, Status, status_label
from jobtui.i18n import t
from jobtui.screens.dialogs import StatusPicker
from jobtui.screens.dialogs.status_picker import PRESETS
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.status_style import SYMBOLS
from jobtui.widgets.ticks import Tick
from tests.support.pilot import app_for, monitor, painted, simple, until

Submit = Callable[..., int]


def put(store: Store, job_id: int, status: str) -> None:
    with store.write() as s:
        s.execute(update(JOBS).where(JOBS.c.id == job_id).values(status=status))


def shown_statuses(table: JobTable) -> set[str]:
    return {row.status for index in range(table.total) if (row := table.row_at(index)) is not None}


async def test_the_picker_ticks_several_statuses_and_applies_them_with_enter(
    store: Store, submit: Submit
) -> None:
    statuses = ["READY", "RUNNING", "ERROR", "ABEND", "TRAPPED", "FINISHED"]
    for status in statuses:
        put(store, submit(simple(status.lower())), status)
    async with app_for(store).run_test(size=(120, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 6, "every job")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        await pilot.press("x", "enter")  # the failed preset
        await until(pilot, lambda: shown_statuses(table) == {"ERROR", "ABEND"}, "the failed jobs")
        assert screen.filter.statuses == {"ERROR", "ABEND", "PARTIAL", "EXPIRED"}
        # Opened again, it shows what is in force; space on the focused (first) status adds Ready.
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker again")
        picker = pilot.app.screen
        assert isinstance(picker, StatusPicker)
        assert picker.ticked == {"ERROR", "ABEND", "PARTIAL", "EXPIRED"}
        await pilot.press("space", "enter")
        await until(pilot, lambda: shown_statuses(table) == {"READY", "ERROR", "ABEND"}, "ready added")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker a third time")
        await pilot.press("a", "enter")  # needs attention
        await until(pilot, lambda: shown_statuses(table) == {"ERROR", "ABEND", "TRAPPED"}, "attention")
        assert screen.filter.statuses == {status.value for status in NEEDS_ATTENTION}
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker a fourth time")
        await pilot.press("0", "enter")  # all
        await until(pilot, lambda: table.total == 6, "every job again")
        assert screen.filter.statuses == frozenset()


async def test_escape_leaves_the_status_filter_as_it_was(store: Store, submit: Submit) -> None:
    put(store, submit(simple("failed")), "ERROR")
    submit(simple("ready"))
    async with app_for(store).run_test(size=(120, 40)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 2, "both jobs")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        await pilot.press("x", "escape")
        await until(pilot, lambda: not isinstance(pilot.app.screen, StatusPicker), "the picker closed")
        await pilot.pause(0.3)
        assert screen.filter.statuses == frozenset() and table.total == 2


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_at_80x24_the_picker_shows_every_status_its_presets_and_its_hint(
    store: Store, lang: str
) -> None:
    """In one list the statuses took every row the dialog had at 24 rows: the presets and the hint fell
    under its border."""
    async with app_for(store, lang=lang).run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        await pilot.pause(0.1)
        dialog = pilot.app.screen.query_one(".dialog")
        for part in (*dialog.children, *pilot.app.screen.query(Button), *pilot.app.screen.query(Tick)):
            assert dialog.content_region.contains_region(part.region), part
        text, _ = painted(pilot.app.screen)
        for status in Status:
            assert f"{SYMBOLS[status]} {status_label(status, lang)}" in text, status
        for key, (name, _statuses) in PRESETS.items():
            assert f"{key} {t(name, lang)}" in text
        hint = t("picker.hint", lang)
        assert hint[:30] in text and hint.split()[-1] in text


async def test_the_arrows_move_through_the_picker_as_its_columns_are_drawn(store: Store) -> None:
    async with app_for(store).run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, StatusPicker), "the picker")
        picker = pilot.app.screen
        assert isinstance(picker, StatusPicker)
        await until(pilot, lambda: picker.focused is picker.boxes[0], "the first status focused")
        boxes = picker.boxes
        assert boxes[1].region.y == boxes[0].region.y < boxes[2].region.y  # two columns
        await pilot.press("down", "down", "right", "space", "up", "left", "space")
        assert picker.ticked == {boxes[5].name, boxes[2].name}
        await pilot.press("left")  # nothing left of the first column
        assert picker.focused is boxes[2]
