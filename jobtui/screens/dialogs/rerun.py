"""RerunDialog: the step to rerun from, and whether RUN starts now."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Label, RadioButton, RadioSet, Static

from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import _job_lines
from jobtui.widgets.ticks import Choice, Tick

RERUN_STEPS = ("PRE", "RUN", "POST")


class RerunDialog(DialogScreen[tuple[str, bool] | None]):
    """Pick the step to rerun from; Run now only makes sense for RUN, the one step that waits for a date."""

    AUTO_FOCUS = "#step"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "step('PRE')", show=False),
        Binding("2", "step('RUN')", show=False),
        Binding("3", "step('POST')", show=False),
        Binding("n", "toggle_run_now", show=False),
        # As in every confirmation: `y` answers yes (Enter does too, once Confirm has the focus).
        Binding("y", "confirm", show=False),
    ]

    def __init__(self, job: JobSnapshot, lang: str = "en", now: datetime | None = None) -> None:
        super().__init__(lang)
        self.job = job
        self.now = now  # the backend's clock (tests drive it); None: the job's dates are not compared
        # A job that never got past PRE, or failed in it, has nothing to repeat later than PRE (from RUN
        # it is refused).
        past_pre = job.started and job.step not in ("INIT", "PRE") and job.failed_step != "PRE"
        self.default_step = "RUN" if past_pre else "PRE"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(t("rerun.title", self.lang, id=self.job.id))
            yield from _job_lines(self.job, self.lang)
            yield Label(t("rerun.step", self.lang), classes="field-label")
            with RadioSet(id="step"):
                for step in RERUN_STEPS:
                    yield Choice(step, id=f"step-{step}")
            yield Tick(t("rerun.run_now", self.lang), id="run-now", disabled=self.default_step != "RUN")
            yield Static(t("rerun.later_steps", self.lang), classes="explain", markup=False)
            yield Static("", id="explain", classes="explain", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(t("common.confirm", self.lang), id="confirm", variant="primary")
                yield Button(t("common.cancel", self.lang), id="cancel")
            yield self._hint(t("rerun.hint", self.lang))

    def on_mount(self) -> None:
        # Pressing the default after mount (rather than value=True in compose) also moves the RadioSet's
        # keyboard highlight onto it, so the arrows start from the step that is chosen.
        self.action_step(self.default_step)
        self._sync()
        # The focus stays on the steps, as No has it in the other confirmations: a stray Enter reran a
        # finished deploy. `y` (the hint says so) or Enter on Confirm reruns.

    @property
    def step(self) -> str:
        pressed = self.query_one("#step", RadioSet).pressed_button
        return pressed.id.removeprefix("step-") if pressed is not None and pressed.id else self.default_step

    @property
    def run_now(self) -> bool:
        return self.step == "RUN" and self.query_one("#run-now", Checkbox).value

    @on(RadioSet.Changed)
    @on(Checkbox.Changed)
    def _sync(self) -> None:
        run_now = self.query_one("#run-now", Checkbox)
        run_now.disabled = self.step != "RUN"
        if run_now.disabled and run_now.value:
            # A hidden tick would come back if the operator returned to RUN; clear it so what is shown
            # is what will be sent.
            run_now.value = False
        key = "RUN_NOW" if self.run_now else self.step
        if key in ("PRE", "RUN") and self._max_start_passed():
            key = "PASSED"  # the engine moves its dates: it would expire again at once (Actions.rerun)
        self.query_one("#explain", Static).update(t(f"rerun.explain.{key}", self.lang))

    def _max_start_passed(self) -> bool:
        """Past its Max Start Date or its schedule's expiry: Actions.rerun moves its dates, RUN runs now."""
        now = self.now
        limits = (self.job.max_start_at, self.job.expires_at)
        return now is not None and any(limit is not None and limit <= now for limit in limits)

    def action_step(self, step: str) -> None:
        self.query_one(f"#step-{step}", RadioButton).value = True

    def action_toggle_run_now(self) -> None:
        run_now = self.query_one("#run-now", Checkbox)
        if not run_now.disabled:
            run_now.toggle()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss((self.step, self.run_now))

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)
