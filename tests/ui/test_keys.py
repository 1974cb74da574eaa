"""Keys typed in one burst (a paste, SSH batching, a busy machine): the keys after one that opens an input go
into that input, never to the job table's keys, however fast they arrive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input

from jobtui.engine.db.models import AuditEvent
from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import ConfirmDialog, ReasonDialog, RerunDialog, RescheduleDialog
from jobtui.screens.log_viewer import LogViewer
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable
from tests.support.helpers import job_of, run_until_status, status_of
from tests.support.pilot import (
    SIZE,
    app_for,
    monitor,
    open_envelopes,
    run_until_ended,
    select_job,
    shown_job,
    simple,
    submit_envelope,
    until,
)

Submit = Callable[..., int]

KEY_NAMES = {"/": "slash", "+": "plus", "-": "minus", " ": "space", "\r": "enter", ";": "semicolon"}


def burst(pilot: Pilot[int], text: str) -> None:
    """Every key of `text` handed to the app at once, the way the terminal driver hands over one read of
    stdin: none waits for the app to handle the one before (Pilot's `press` does)."""
    for char in text:
        pilot.app.post_message(events.Key(KEY_NAMES.get(char, char), char))


def filter_box(pilot: Pilot[int]) -> Input:
    return monitor(pilot).query_one("#filter-input", Input)


async def test_a_burst_after_slash_goes_into_the_filter_and_never_approves(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple("apache", "approval = true"))
    run_until_status(engine, job_id, "APPROVAL")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("approve", ()) is True, "approve enabled")
        assert screen.check_action("trap_pause", ()) is None
        burst(pilot, "/apache")
        await until(pilot, lambda: screen._rest_built and filter_box(pilot).value == "apache", "the filter")
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the filtered rows")
        await pilot.pause(0.2)
        assert filter_box(pilot).value == "apache"
        assert filter_box(pilot).has_focus
        assert status_of(store, job_id) == "APPROVAL"


async def test_keys_that_open_an_input_are_text_while_the_filter_has_the_focus(
    store: Store, submit: Submit
) -> None:
    job_id = submit(simple("best"), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("reschedule", ()) is True, "reschedule enabled")
        burst(pilot, "/bst/s")
        await until(pilot, lambda: screen._rest_built and filter_box(pilot).value == "bst/s", "the filter")
        await pilot.pause(0.2)
        assert pilot.app.screen is screen  # no dialog opened
        assert filter_box(pilot).value == "bst/s"


async def test_s_then_a_relative_date_typed_at_once_reschedules(store: Store, submit: Submit) -> None:
    job_id = submit(simple(), at="+1h")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("reschedule", ()) is True)
        burst(pilot, "s+2h")
        await until(pilot, lambda: isinstance(pilot.app.screen, RescheduleDialog), "the dialog")
        dialog = pilot.app.screen
        await until(pilot, lambda: dialog.query_one("#when", Input).value == "+2h", "+2h in the dialog")
        await pilot.press("enter")
        await until(
            pilot, lambda: job_of(store, job_id).scheduled_at == store.now().add(hours=2), "the new date"
        )


async def test_b_then_a_reason_typed_at_once_fills_the_reason(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit('name = "r"\n[[run]]\nrun = "true"\nrollback = "true"\n')
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await until(pilot, lambda: monitor(pilot).check_action("rollback", ()) is True)
        burst(pilot, "bad release")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReasonDialog), "the dialog")
        dialog = pilot.app.screen
        await until(pilot, lambda: dialog.query_one("#reason", Input).value == "ad release", "the reason")
        await pilot.pause(0.1)
        assert dialog.query_one("#reason", Input).value == "ad release"
        assert status_of(store, job_id) == "FINISHED"


# -- the job keys act on the job under the cursor, even before the pane has caught up with it ------------


async def test_job_keys_typed_with_a_cursor_move_act_on_the_job_under_the_table_cursor(
    store: Store, submit: Submit, engine: Engine
) -> None:
    older = submit(simple("older"))
    newer = submit(simple("newer"))
    run_until_ended(engine, older, newer)
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == newer, "the newest job in the pane")
        table = screen.query_one(JobTable)
        assert table.selected_job_id() == newer
        # One read of stdin: the pane follows the cursor only after a read of the database.
        pilot.app.post_message(events.Key("down", None))
        pilot.app.post_message(events.Key("l", "l"))
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        viewer = pilot.app.screen
        assert isinstance(viewer, LogViewer) and viewer.job_id == older
        assert f"#{older} older" in viewer.title_text
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the viewer to close")
        assert shown_job(pilot) == older
        pilot.app.post_message(events.Key("up", None))
        pilot.app.post_message(events.Key("d", "d"))
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the confirmation")
        dialog = pilot.app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.job is not None and dialog.job.id == newer
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "the dialog to close")
        assert status_of(store, newer) == "FINISHED" and status_of(store, older) == "FINISHED"


async def test_a_job_key_typed_as_the_first_rows_are_painted_acts_on_the_selected_job(
    store: Store, submit: Submit, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detail pane's widgets are built just after the first paint: `l` typed in that moment (a slow
    machine over SSH makes it a second) said "No job selected" under the job the table and pane show."""
    from jobtui.screens.monitor import MonitorScreen

    job_id = submit(simple("early"))
    run_until_ended(engine, job_id)
    first_painted = MonitorScreen._first_painted

    def typed_at_first_paint(screen: MonitorScreen) -> None:
        first_painted(screen)
        assert not screen.query_one(DetailPane).is_built  # the moment this test is about
        screen.app.post_message(events.Key("l", "l"))

    monkeypatch.setattr(MonitorScreen, "_first_painted", typed_at_first_paint)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        viewer = pilot.app.screen
        assert isinstance(viewer, LogViewer) and viewer.job_id == job_id


# -- the envelopes view: the job keys act on the job under the tree's cursor ---------------------------


async def test_job_keys_in_the_envelopes_view_act_on_the_job_under_the_tree_cursor(
    store: Store, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    envelope_id, ids = submit_envelope(
        actions, tmp_path / "r7", "release-7", {"build": "true", "migrate": "true", "deploy": "true"}
    )
    run_until_ended(engine, *ids)
    async with app_for(store).run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await until(pilot, lambda: shown_job(pilot) == ids[2], "the newest job in the pane")
        tree = await open_envelopes(pilot)
        envelope = tree.root.children[0]
        await pilot.press("space", "right")  # unfold the envelope, onto its first job
        assert tree.cursor_node is envelope.children[0]
        assert tree.selected_job_id() == ids[0]
        await pilot.press("d")  # at once: the pane may not have caught up yet
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the confirmation")
        dialog = pilot.app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.job is not None
        assert dialog.job.id == ids[0]
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen is screen, "the dialog to close")
        assert shown_job(pilot) == ids[0]  # the pane follows the tree's cursor
        await pilot.press("down")  # the second job of the chain
        await until(pilot, lambda: shown_job(pilot) == ids[1], "the pane on the second job")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, RerunDialog), "the rerun dialog")
        rerun = pilot.app.screen
        assert isinstance(rerun, RerunDialog) and rerun.job.id == ids[1]
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the dialog to close")
        await pilot.press("up", "left")  # onto the envelope: no job to act on
        await pilot.press("d")
        await pilot.pause(0.1)
        assert pilot.app.screen is screen
        assert status_of(store, ids[2]) == "FINISHED" and envelope_id
        await pilot.press("1")  # back to the jobs view: the pane shows the table's job again
        await until(pilot, lambda: shown_job(pilot) == ids[2], "the table's job in the pane")


@pytest.mark.parametrize("comment", ["", "restarted the db; skip"])
async def test_t_a_comment_enter_and_a_choice_typed_at_once_resolve_the_trap(
    store: Store, submit: Submit, engine: Engine, comment: str
) -> None:
    trapped = submit('name = "t"\n[[run]]\nrun = "false"\non_error = "trap"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, trapped, "TRAPPED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, trapped)
        await until(pilot, lambda: monitor(pilot).check_action("trap", ()) is True)
        # The comment's `s`, `r` and `a` are text; the `s` behind Enter is the dialog's skip, never the
        # table's reschedule.
        burst(pilot, f"t{comment}\rs")
        await until(pilot, lambda: status_of(store, trapped) == "READY", "trap skip")
        assert pilot.app.screen is monitor(pilot)
        with store.read() as s:
            skips = s.scalars(
                select(AuditEvent).where(AuditEvent.job_id == trapped, AuditEvent.action == "trap skip")
            ).all()
        # The op resolved first, then the operator's why.
        assert [skip.comment for skip in skips] == ['RUN op "run-1"' + (f"; {comment}" if comment else "")]
    run_until_status(engine, trapped, "FINISHED")
