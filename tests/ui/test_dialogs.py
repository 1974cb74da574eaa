"""The monitor's dialogs, driven with the keys an operator presses, plus how they look (SVG snapshots)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Static
from textual.widgets._toggle_button import ToggleButton

import jobtui
from jobtui import i18n
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.envelopes import EnvelopeStatus
from jobtui.engine.domain.states import OpStatus, Status, TaskStatus, status_label
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import envelope_status_text, op_status_text, status_text, t, task_status_text
from jobtui.screens.dialogs import (
    ConfirmDialog,
    DialogScreen,
    EnvelopeFacts,
    HelpScreen,
    NotificationsScreen,
    ReasonDialog,
    RerunDialog,
    RescheduleDialog,
    StatusPicker,
    TrapDialog,
)
from jobtui.widgets.status_style import ENVELOPE_SYMBOLS, SYMBOLS
from tests.support.pilot import painted

START = pendulum.datetime(2026, 11, 23, 10, 0, tz="UTC")
TZ = "Europe/Zurich"  # CET in November: UTC+1, so a wrong zone shows up as a one-hour shift
SIZE = (100, 30)

JOB = JobSnapshot(
    id=42,
    name="deploy-web",
    project="payments",
    status="READY",
    status_label="Ready",
    step="RUN",
    scheduled_at=START.add(hours=1),
    max_start_at=START.add(hours=25),
)
TRAPPED = dataclasses.replace(
    JOB, status="TRAPPED", status_label="Trapped", trap_op="migrate-db", trap_left_s=1800.0
)


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async pilot test without an async pytest plugin (the project does not depend on one)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class HostApp(App[None]):
    """Stands in for the monitor: opens one dialog and records what it answered."""

    def __init__(self, dialog: Screen[Any]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("jobtui monitor")

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


def shown(screen: Screen[Any]) -> str:
    """The text an operator can read on the screen: static texts, button and toggle labels."""
    parts = [str(widget.content) for widget in screen.query(Static) if widget.display]
    parts += [str(button.label) for button in screen.query(Button)]
    parts += [str(toggle.label) for toggle in screen.query(ToggleButton)]
    return "\n".join(parts)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*text)


async def steady(pilot: Pilot[Any]) -> None:
    """Snapshots must not depend on where the cursor blink was when the screenshot was taken."""
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


# -- ConfirmDialog ----------------------------------------------------------------------------------------


def confirm(lang: str = "en") -> ConfirmDialog:
    return ConfirmDialog(t("confirm.cancel", lang), JOB, t("confirm.cancel_msg", lang), lang=lang)


def test_every_dialog_finds_the_stylesheet_wherever_its_class_is_defined() -> None:
    """Textual resolves a relative CSS_PATH against the file of the screen's own class; DialogScreen anchors
    it, so a dialog defined in another folder (here: tests/ui) is styled like those in screens/dialogs/."""

    class Elsewhere(DialogScreen[None]):
        pass

    stylesheet = Path(jobtui.__file__).parent / "styles" / "dialogs.tcss"
    assert stylesheet.is_file()
    for screen in (Elsewhere(), ConfirmDialog("title", None, "message"), HelpScreen([])):
        assert [path.resolve() for path in screen.css_path] == [stylesheet.resolve()]


@sync
async def test_confirm_focuses_no_so_a_stray_enter_does_nothing_harmful() -> None:
    app = HostApp(confirm())
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [False]
        assert app.screen is not app.dialog


@pytest.mark.parametrize(("key", "answer"), [("y", True), ("n", False), ("escape", False)])
@sync
async def test_confirm_keys(key: str, answer: bool) -> None:
    app = HostApp(confirm())
    async with app.run_test() as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [answer]


@sync
async def test_confirm_enter_activates_the_focused_button() -> None:
    app = HostApp(confirm())
    async with app.run_test() as pilot:
        await pilot.press("shift+tab")  # from No back to Yes
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [True]


@sync
async def test_confirm_names_the_job_it_acts_on() -> None:
    app = HostApp(confirm())
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Cancel this job?" in text
        assert "Job #42 · deploy-web" in text
        assert "Status Ready" in text
        assert "Yes" in text and "No" in text


@sync
async def test_confirm_with_a_comment_keeps_it_once_the_dialog_is_gone() -> None:
    """The monitor acts on the answer after the dialog was taken down: the comment must outlive it."""
    dialog = ConfirmDialog(t("confirm.reject"), JOB, t("confirm.reject_msg"), comment=True)
    app = HostApp(dialog)
    async with app.run_test() as pilot:
        await pilot.press("c", *"no sign-off yet", "enter")
        await pilot.pause()
        assert app.results == [True] and app.screen is not dialog
        assert dialog.comment == "no sign-off yet"


@sync
async def test_confirm_without_a_job_shows_no_job_line() -> None:
    app = HostApp(ConfirmDialog(t("confirm.queue_clear"), None, t("confirm.queue_clear_none")))
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Clear the queue?" in text
        assert "Job #" not in text


# -- ReasonDialog -----------------------------------------------------------------------------------------


def reason_dialog(required: bool = True) -> ReasonDialog:
    return ReasonDialog(t("confirm.rollback"), JOB, required=required, placeholder=t("rollback.placeholder"))


@sync
async def test_reason_required_blocks_an_empty_answer_until_one_is_typed() -> None:
    app = HostApp(reason_dialog())
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.dialog and app.results == []
        assert "A reason is required." in shown(app.screen)

        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == []

        await type_text(pilot, "bad migration")
        assert "A reason is required." not in shown(app.screen)
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["bad migration"]


@sync
async def test_reason_blank_of_spaces_is_still_empty() -> None:
    app = HostApp(reason_dialog())
    async with app.run_test() as pilot:
        await type_text(pilot, "   ")
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []


@sync
async def test_reason_optional_accepts_empty() -> None:
    app = HostApp(reason_dialog(required=False))
    async with app.run_test() as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [""]


@sync
async def test_reason_escape_gives_no_answer() -> None:
    app = HostApp(reason_dialog())
    async with app.run_test() as pilot:
        await type_text(pilot, "half typed")
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


ENVELOPE = EnvelopeFacts(id=7, name="release-42", project="payments", status="SUCCESS", jobs=3)


def envelope_reason(lang: str = "en") -> ReasonDialog:
    return ReasonDialog(
        t("confirm.envelope_rollback", lang),
        ENVELOPE,
        lang=lang,
        placeholder=t("envelope_rollback.placeholder", lang),
    )


@sync
async def test_reason_for_an_envelope_names_the_envelope_and_still_requires_a_reason() -> None:
    app = HostApp(envelope_reason())
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Roll back this envelope?" in text
        assert "Envelope #7 · release-42" in text
        assert "Project payments · Status Success · 3 jobs" in text
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [] and "A reason is required." in shown(app.screen)
        await type_text(pilot, "bad release")
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ["bad release"]


# -- RerunDialog ------------------------------------------------------------------------------------------


@sync
async def test_rerun_defaults_to_run_for_a_job_past_pre_and_run_now_overrides_the_date() -> None:
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.pause()
        run_now = app.screen.query_one("#run-now", Checkbox)
        assert not run_now.disabled
        assert "RUN waits for its scheduled date" in shown(app.screen)
        await pilot.press("n")
        await pilot.pause()
        assert run_now.value
        assert "overriding the scheduled date" in shown(app.screen)
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == [("RUN", True)]


@sync
async def test_a_ticked_box_and_a_chosen_step_read_apart_from_the_others_without_colour() -> None:
    """Textual marks every box `▐X▌` and every radio button `▐●▌`, on or off, and tells them apart by colour
    alone: under NO_COLOR every status in the picker and every step looked chosen."""
    app = HostApp(RerunDialog(JOB))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text, _ = painted(app.screen)
        assert "▐●▌ RUN" in text and "▐ ▌ PRE" in text and "▐ ▌ POST" in text
        assert "▐ ▌ Run now" in text
        await pilot.press("n", "1")
        await pilot.pause()
        text, _ = painted(app.screen)
        assert "▐●▌ PRE" in text and "▐ ▌ RUN" in text
    app = HostApp(StatusPicker(frozenset({"ERROR"})))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text, _ = painted(app.screen)
        assert "▐X▌ ✘ Error" in text and "▐ ▌ ○ Ready" in text


@sync
@pytest.mark.parametrize(
    "where",
    [{"step": "PRE"}, {"step": "END", "failed_step": "PRE"}, {"step": "RUN", "started": False}],
    ids=["still in PRE", "failed in PRE, POST ran", "expired before PRE"],
)
async def test_rerun_defaults_to_pre_for_a_job_not_through_pre_where_run_now_is_off(
    where: dict[str, Any],
) -> None:
    app = HostApp(RerunDialog(dataclasses.replace(JOB, status="ERROR", status_label="Error", **where)))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.query_one("#run-now", Checkbox).disabled
        await pilot.press("n")
        text = shown(app.screen)
        assert "Later steps rerun too." in text
        assert "A PRE rerun keeps the RUN date" in text
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == [("PRE", False)]


@sync
async def test_rerun_leaving_run_clears_run_now() -> None:
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.press("n", "1")
        await pilot.pause()
        run_now = app.screen.query_one("#run-now", Checkbox)
        assert run_now.disabled and not run_now.value
        await pilot.press("2")  # back to RUN: the tick does not come back by itself
        await pilot.pause()
        assert not run_now.disabled and not run_now.value
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == [("RUN", False)]


@sync
async def test_rerun_a_stray_enter_reruns_nothing_and_enter_on_confirm_does() -> None:
    """Found by an operator: Confirm had the focus, so `r` then a reflex Enter reran a finished deploy;
    in cancel, delete and the queue commands No has it."""
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == []
        assert isinstance(app.screen, RerunDialog)
        await pilot.press("tab", "tab", "enter")  # past Run now, onto Confirm
        await pilot.pause()
        assert app.results == [("RUN", False)]


@sync
async def test_rerun_of_a_job_past_its_max_start_date_says_it_starts_now() -> None:
    """Found by an operator: an Expired job's rerun read "RUN waits for its scheduled date unless Run now";
    it ran at once (its dates moved), and expired again when no worker was free within its window."""
    expired = dataclasses.replace(JOB, status="EXPIRED", status_label="Expired")
    app = HostApp(RerunDialog(expired, now=JOB.max_start_at + timedelta(minutes=1)))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "has passed: RUN starts now" in shown(app.screen)
        await pilot.press("3")  # POST does not run RUN again
        await pilot.pause()
        assert "Only POST reruns" in shown(app.screen)
    app = HostApp(RerunDialog(expired, now=JOB.max_start_at - timedelta(minutes=1)))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "RUN waits for its scheduled date unless Run now" in shown(app.screen)
    # A fire-and-forget job past its schedule's expiry (its retries used up) runs now too (found by review).
    used_up = dataclasses.replace(JOB, status="ERROR", status_label="Error", expires_at=START.add(minutes=30))
    app = HostApp(RerunDialog(used_up, now=START.add(hours=2)))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "has passed: RUN starts now" in shown(app.screen)


@sync
async def test_rerun_y_confirms_as_in_every_confirmation() -> None:
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.press("1", "y")
        await pilot.pause()
        assert app.results == [("PRE", False)]


@sync
async def test_rerun_step_chosen_with_arrows_and_enter() -> None:
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.press("down", "enter")  # the steps have the focus, RUN highlighted; down moves to POST
        await pilot.pause()
        assert "Only POST reruns" in shown(app.screen)
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == [("POST", False)]


@sync
async def test_rerun_escape_gives_no_answer() -> None:
    app = HostApp(RerunDialog(JOB))
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


@sync
async def test_rerun_in_spanish() -> None:
    app = HostApp(RerunDialog(JOB, lang="es"))
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Reiniciar el pase #42" in text
        assert "Ejecutar ahora" in text
        assert "Estado Listo" in text
        assert "Confirmar" in text and "Cancelar" in text


# -- RescheduleDialog -------------------------------------------------------------------------------------


def reschedule(clock: FakeClock, lang: str = "en") -> RescheduleDialog:
    return RescheduleDialog(JOB, now=clock.now, tz=TZ, lang=lang)


@sync
async def test_reschedule_shows_the_parsed_date_while_typing_and_returns_it_in_utc() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Scheduled: 2026-11-23 12:00 CET (in 1 h)" in text
        assert "Max Start Date: 2026-11-24 12:00 CET (in 1 d 1 h)" in text

        await type_text(pilot, "+2h")
        text = shown(app.screen)
        assert "New date: 2026-11-23 13:00 CET (in 2 h)" in text
        assert "Max Start Date moves by the same span: 2026-11-24 13:00 CET" in text

        await pilot.press("enter")
        await pilot.pause()
        assert app.results == [START.add(hours=2)]
        assert app.results[0].timezone_name == "UTC"


@sync
async def test_reschedule_to_a_past_date_says_max_start_counts_from_now() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await type_text(pilot, "2020-01-01 00:00")
        text = shown(app.screen)
        assert "This date is in the past: RUN starts as soon as it can." in text
        # Its span (a day) from now, not from 2020: the job would expire at once. Said so: "moves by the
        # same span" read as a day after 2020.
        assert "Max Start Date, the same span from now: 2026-11-24 11:00 CET" in text


@sync
async def test_reschedule_relative_input_counts_from_the_moment_of_confirming() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await type_text(pilot, "+2h")
        clock.advance(90)
        await pilot.click("#confirm")
        await pilot.pause()
        assert app.results == [START.add(hours=2, seconds=90)]


@sync
async def test_reschedule_bad_input_shows_the_reason_and_enter_stays() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await type_text(pilot, "soon")
        assert '"soon" is not a date' in shown(app.screen)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.dialog and app.results == []

        await pilot.press(*["backspace"] * 4)
        await type_text(pilot, "tomorrow 02:00")
        assert '"soon"' not in shown(app.screen)
        await pilot.press("enter")
        await pilot.pause()
        # 02:00 wall-clock time in Zurich is 01:00 UTC.
        assert app.results == [pendulum.datetime(2026, 11, 24, 1, 0, tz="UTC")]


@sync
async def test_reschedule_warns_about_a_date_in_the_past() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await type_text(pilot, "2026-11-23T09:00")
        text = shown(app.screen)
        assert "New date: 2026-11-23 09:00 CET (2 h ago)" in text
        assert "in the past" in text


@sync
async def test_reschedule_escape_gives_no_answer() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock))
    async with app.run_test() as pilot:
        await type_text(pilot, "+1h")
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


@sync
async def test_reschedule_in_spanish() -> None:
    clock = FakeClock(START)
    app = HostApp(reschedule(clock, lang="es"))
    async with app.run_test() as pilot:
        await type_text(pilot, "+2h")
        text = shown(app.screen)
        assert "Replanificar el pase #42" in text
        assert "Nueva fecha: 2026-11-23 13:00 CET (dentro de 2 h)" in text
        assert "Max fecha de inicio" in text
        # What to type, in Spanish (the parser's reason was English), and an example that is not past.
        await pilot.press(*["backspace"] * 3)
        await type_text(pilot, "mañana 02:00")
        assert (
            "«mañana 02:00» no es una fecha que se entienda: escriba ISO 8601 (2026-11-24T02:00), "
            "+2h, tomorrow 02:00 o now"
        ) in shown(app.screen)
        assert app.screen.query_one("#when", Input).placeholder.startswith("2026-11-24T02:00, +2h")


# -- TrapDialog -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "action"), [("r", "retry"), ("s", "skip"), ("a", "abort")])
@sync
async def test_trap_keys_choose_the_action_once_the_comment_is_done(key: str, action: str) -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    async with app.run_test() as pilot:
        await pilot.press("enter", key)
        await pilot.pause()
        assert app.results == [(action, "")]


@sync
async def test_trap_typing_a_comment_does_not_trigger_the_action_keys() -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    async with app.run_test() as pilot:
        # Typed at once, as the dialog opens: "r", "s" and "a" in it are the comment's.
        await type_text(pilot, "restarted db; retry")
        await pilot.pause()
        assert app.screen is app.dialog and app.results == []
        assert app.screen.query_one("#comment", Input).value == "restarted db; retry"
        await pilot.press("enter")  # leaves the comment without choosing
        await pilot.pause()
        assert app.results == []
        await pilot.press("r")
        await pilot.pause()
        assert app.results == [("retry", "restarted db; retry")]


@sync
async def test_trap_a_key_typed_right_behind_enter_chooses() -> None:
    """As over SSH, where keys come in one read: both reach the app before it handles the first."""
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    async with app.run_test() as pilot:
        await type_text(pilot, "db back")
        app.post_message(events.Key("enter", "\r"))
        app.post_message(events.Key("s", "s"))
        await pilot.pause()
        assert app.results == [("skip", "db back")]


@sync
async def test_trap_buttons_choose_too() -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    async with app.run_test() as pilot:
        await pilot.click("#abort")
        await pilot.pause()
        assert app.results == [("abort", "")]


@sync
async def test_trap_escape_gives_no_answer() -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


@sync
async def test_trap_countdown_follows_the_clock() -> None:
    clock = FakeClock(START)
    dialog = TrapDialog(TRAPPED, now=clock.now)
    app = HostApp(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Trapped op: migrate-db" in text
        assert "Time left: 30m" in text

        clock.advance(65)
        dialog.refresh_countdown()
        assert "Time left: 28m55s" in shown(app.screen)

        clock.advance(1800)
        dialog.refresh_countdown()
        assert "Time left: timed out" in shown(app.screen)


@sync
async def test_trap_countdown_ticks_by_itself() -> None:
    clock = FakeClock(START)
    app = HostApp(TrapDialog(TRAPPED, now=clock.now))
    async with app.run_test() as pilot:
        await pilot.pause()
        clock.advance(60)
        await pilot.pause(1.2)
        assert "Time left: 29m" in shown(app.screen)


@sync
async def test_trap_paused_countdown_stands_still() -> None:
    clock = FakeClock(START)
    job = dataclasses.replace(TRAPPED, status="TRAP_PAUSED", trap_left_s=600.0, trap_paused=True)
    dialog = TrapDialog(job, now=clock.now)
    app = HostApp(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        clock.advance(120)
        dialog.refresh_countdown()
        assert "Time left: 10m (paused)" in shown(app.screen)


@sync
async def test_a_trap_paused_and_resumed_elsewhere_stops_and_restarts_the_countdown() -> None:
    """The countdown kept falling after `jobtui trap ID pause` from another shell, while the facts line
    above it said the job was paused; once the trap is resolved there is no timeout left to count."""
    clock = FakeClock(START)
    dialog = TrapDialog(TRAPPED, now=clock.now)
    app = HostApp(dialog)
    async with app.run_test() as pilot:
        await pilot.pause()
        clock.advance(60)
        dialog.subject_now(TRAPPED.id, "TRAP_PAUSED", TRAPPED.step)  # as the poller tells it
        clock.advance(300)
        dialog.refresh_countdown()
        assert "Time left: 29m (paused)" in shown(app.screen)
        dialog.subject_now(TRAPPED.id, "TRAPPED", TRAPPED.step)
        clock.advance(60)
        dialog.refresh_countdown()
        assert "Time left: 28m" in shown(app.screen)
        dialog.subject_now(TRAPPED.id, "RUNNING", TRAPPED.step)  # retried from elsewhere
        await pilot.pause()
        assert "Time left" not in shown(app.screen)


@sync
async def test_trap_without_timeout_waits_forever() -> None:
    app = HostApp(TrapDialog(dataclasses.replace(TRAPPED, trap_left_s=None), now=FakeClock(START).now))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "Time left: none, no timeout (it waits for an operator)" in shown(app.screen)


@sync
async def test_trap_in_spanish() -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now, lang="es"))
    async with app.run_test() as pilot:
        await pilot.pause()
        text = shown(app.screen)
        assert "Pase #42 capturado" in text
        assert "Estado Capturado" in text
        assert "Tiempo restante: 30m" in text
        for label in ("Reintentar", "Saltar", "Abortar"):
            assert label in text


# -- HelpScreen ----------------------------------------------------------------------------

KEYS = [("c", "Cancel job"), ("R", "Rerun from a step"), ("t", "Resolve trap"), ("?", "This help")]


@pytest.mark.parametrize("key", ["escape", "question_mark", "q"])
@sync
async def test_help_closes_with(key: str) -> None:
    app = HostApp(HelpScreen(KEYS))
    async with app.run_test() as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [None]
        assert app.screen is not app.dialog


# -- NotificationsScreen ----------------------------------------------------------------------------------

NOTES: list[dict[str, Any]] = [
    {
        "at": "2026-11-23T10:00:00+00:00",
        "level": "info",
        "text": "envelope release-42 submitted by alice",
        "job": None,
    },
    {
        "at": "2026-11-23T10:01:30+00:00",
        "level": "warning",
        "text": "job 8 (migrate) trapped: exit 1",
        "job": 8,
    },
    {
        "at": "2026-11-23T10:05:00+00:00",
        "level": "error",
        "text": "job 8 (migrate) ended ERROR: exit 1",
        "job": 8,
    },
    {
        "at": "2026-11-23T10:05:00+00:00",
        "level": "error",
        "text": "envelope release-42 finished: ERRORS",
        "job": 8,
    },
]


def notifications(lang: str = "en", notes: list[dict[str, Any]] | None = None) -> NotificationsScreen:
    title = t("notes.title", lang, id=7, name="release-42")
    return NotificationsScreen(title, NOTES if notes is None else notes, tz=TZ, lang=lang)


def note_rows(screen: Screen[Any]) -> list[tuple[str, str, str, set[str]]]:
    rows = []
    for row in screen.query(".note").results():
        at, level, text = row.query(Static).results()
        rows.append((str(at.content), str(level.content), str(text.content), set(level.classes)))
    return rows


@sync
async def test_notifications_show_local_time_level_and_text_oldest_first() -> None:
    app = HostApp(notifications())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = note_rows(app.screen)
        # Zurich is UTC+1 in November.
        assert [row[:3] for row in rows] == [
            ("2026-11-23 11:00:00", "info", "envelope release-42 submitted by alice"),
            ("2026-11-23 11:01:30", "warning", "job 8 (migrate) trapped: exit 1"),
            ("2026-11-23 11:05:00", "error", "job 8 (migrate) ended ERROR: exit 1"),
            ("2026-11-23 11:05:00", "error", "envelope release-42 finished: ERRORS"),
        ]
        # The colour comes from the level's class in dialogs.tcss.
        assert [sorted(row[3]) for row in rows][:3] == [
            ["level-info", "note-level"],
            ["level-warning", "note-level"],
            ["level-error", "note-level"],
        ]
        assert "Notifications · envelope #7 release-42" in shown(app.screen)


@sync
async def test_notifications_in_spanish_and_an_unknown_level_shown_as_is() -> None:
    notes = [{"at": "2026-11-23T10:00:00+00:00", "level": "debug", "text": "[b]raw[/b]", "job": None}]
    app = HostApp(notifications("es", [*NOTES[1:2], *notes]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rows = note_rows(app.screen)
        assert rows[0][1] == "aviso"
        assert rows[1][1:] == ("debug", "[b]raw[/b]", {"note-level"})


@sync
async def test_no_notifications_says_so() -> None:
    app = HostApp(notifications(notes=[]))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "No notifications." in shown(app.screen)


@pytest.mark.parametrize("key", ["escape", "n", "q"])
@sync
async def test_notifications_close_with(key: str) -> None:
    app = HostApp(notifications())
    async with app.run_test() as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [None]


# -- i18n -------------------------------------------------------------------------------------------------


def test_an_envelope_with_errors_and_jobs_still_going_is_not_drawn_as_a_trapped_job() -> None:
    """⚠ is Trapped's (a job waiting for a person): operators took such an envelope for a trapped job. The
    statuses without a job status of the same meaning have symbols no job status uses."""
    for status in (EnvelopeStatus.ERRORS_ACTIVE, EnvelopeStatus.CORRUPT):
        assert ENVELOPE_SYMBOLS[status] not in SYMBOLS.values(), status


def test_every_envelope_status_has_a_symbol_and_texts_in_both_languages() -> None:
    for status in EnvelopeStatus:
        assert ENVELOPE_SYMBOLS[status]
        for lang in ("en", "es"):
            assert "envelope.status." + status.value in i18n.MESSAGES[lang]
    assert envelope_status_text("SUCCESS_ACTIVE", "es") == "Correcto, activo"


@pytest.mark.parametrize("lang", ["en", "es"])
def test_task_and_step_statuses_read_as_words_as_the_job_statuses_do(lang: str) -> None:
    """English showed tasks as codes ("CANCELLED", beside the job's "Canceled") and steps in lower case."""
    for code in [*TaskStatus, *OpStatus]:
        text = task_status_text(code, lang) if code in TaskStatus else op_status_text(code, lang)
        assert text[0].isupper() and not text.isupper(), (code, text)
    assert envelope_status_text("CANCELLED", lang) == status_label(Status.CANCELED, lang)
    if lang == "en":  # Spanish says it of a task (feminine) as of a job: "Cancelada", "Cancelado"
        assert task_status_text(TaskStatus.CANCELLED, lang) == status_label(Status.CANCELED, lang)


def test_unknown_key_fails_loudly() -> None:
    with pytest.raises(KeyError):
        t("rerun.titel")


def test_missing_spanish_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(i18n.MESSAGES["en"], "test.only_english", "Only {what}")
    assert t("test.only_english", "es", what="English") == "Only English"
    assert t("rerun.run_now", "fr") == "Run now"


def test_spanish_uses_the_seed_vocabulary() -> None:
    assert t("rerun.run_now", "es") == "Ejecutar ahora"
    assert t("reschedule.title", "es", id=7) == "Replanificar el pase #7"
    assert status_text("TRAPPED", "es") == "Capturado"
    assert status_text("TRAPPED") == "Trapped"


def test_every_spanish_text_matches_an_english_one_with_the_same_placeholders() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    english, spanish = i18n.MESSAGES["en"], i18n.MESSAGES["es"]
    assert set(spanish) <= set(english)
    for key, text in spanish.items():
        assert fields(text) == fields(english[key]), key


# -- Snapshots --------------------------------------------------------------------------------------------


def test_snapshot_confirm(snap_compare: Any) -> None:
    assert snap_compare(HostApp(confirm()), terminal_size=SIZE, run_before=steady)


def test_snapshot_reason_required(snap_compare: Any) -> None:
    app = HostApp(reason_dialog())
    assert snap_compare(app, terminal_size=SIZE, run_before=steady, press=["enter"])


def test_snapshot_rerun(snap_compare: Any) -> None:
    assert snap_compare(HostApp(RerunDialog(JOB)), terminal_size=SIZE, run_before=steady, press=["n"])


def test_snapshot_reschedule(snap_compare: Any) -> None:
    app = HostApp(reschedule(FakeClock(START)))
    assert snap_compare(app, terminal_size=SIZE, run_before=steady, press=["+", "2", "h"])


def test_snapshot_reschedule_error(snap_compare: Any) -> None:
    app = HostApp(reschedule(FakeClock(START)))
    assert snap_compare(app, terminal_size=SIZE, run_before=steady, press=[*"2 hours"])


def test_snapshot_trap(snap_compare: Any) -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    assert snap_compare(app, terminal_size=SIZE, run_before=steady)


def test_snapshot_trap_at_80x24(snap_compare: Any) -> None:
    """Below 30 rows the dialog drops its blank lines above the comment and the hint, so it fits whole."""
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now))
    assert snap_compare(app, terminal_size=(80, 24), run_before=steady)


def test_snapshot_trap_spanish(snap_compare: Any) -> None:
    app = HostApp(TrapDialog(TRAPPED, now=FakeClock(START).now, lang="es"))
    assert snap_compare(app, terminal_size=SIZE, run_before=steady)


def test_snapshot_help(snap_compare: Any) -> None:
    assert snap_compare(HostApp(HelpScreen(KEYS)), terminal_size=SIZE, run_before=steady)


def test_snapshot_envelope_reason(snap_compare: Any) -> None:
    assert snap_compare(HostApp(envelope_reason()), terminal_size=SIZE, run_before=steady)


def test_snapshot_notifications(snap_compare: Any) -> None:
    assert snap_compare(HostApp(notifications()), terminal_size=SIZE, run_before=steady)
