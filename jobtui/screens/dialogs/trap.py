"""TrapDialog: retry, skip or abort a trapped op."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

import pendulum
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Static

from jobtui.engine.domain.clock import SystemClock
from jobtui.engine.domain.states import Status
from jobtui.engine.domain.text import visible
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import _job_lines

TRAP_ACTIONS = ("retry", "skip", "abort")
CHOICE_KEYS = {action[0]: action for action in TRAP_ACTIONS}  # r, s, a


class CommentInput(Input):
    """The trap's comment. Enter ends it and moves the focus to the first action. Keys typed right behind
    Enter reach this input all the same (Textual hands each key to the widget focused as it arrives, and
    runs bindings once the key has gone through it), so they are taken here: past Enter, a choice key
    chooses instead of going into the comment."""

    ended = False  # Enter was pressed in it, and it has not had the focus back since

    async def _on_key(self, event: events.Key) -> None:
        dialog = self.screen
        if event.key == "enter" or (self.ended and event.key in CHOICE_KEYS):
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                self.ended = True
                dialog.set_focus(dialog.query_one("#retry", Button))
            elif isinstance(dialog, TrapDialog):
                dialog.action_choose(CHOICE_KEYS[event.key])
            return
        await super()._on_key(event)

    def on_focus(self) -> None:
        self.ended = False


class TrapDialog(DialogScreen[tuple[str, str] | None]):
    """Resolve a trapped op. The countdown is the snapshot's time left minus the time the dialog is open,
    so the operator sees the timeout action coming without the dialog re-reading the job."""

    # The comment first: an operator who starts typing ("retry after the fix") must not retry, skip or
    # abort on the first letter. Enter ends the comment; the plain keys choose outside it.
    AUTO_FOCUS = "#comment"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"choose('{action}')", show=False) for key, action in CHOICE_KEYS.items()),
        # Typed ahead, before the comment took the focus: ends it all the same.
        Binding("enter", "comment_done", show=False),
    ]

    def __init__(
        self, job: JobSnapshot, now: Callable[[], pendulum.DateTime] | None = None, lang: str = "en"
    ) -> None:
        super().__init__(lang)
        self.job = job
        self.now = now or SystemClock().now
        self.opened_at = self.now()
        self._ticker: Timer | None = None

    @property
    def counting(self) -> bool:
        return self.job.trap_left_s is not None and not self.job.trap_paused

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(t("trap.title", self.lang, id=self.job.id))
            yield from _job_lines(self.job, self.lang)
            op = self.job.trap_op or t("trap.op_unknown", self.lang)
            yield Static(t("trap.op", self.lang, op=visible(op)), id="op", markup=False)
            yield Static("", id="left", markup=False)
            yield Static(t("trap.explain", self.lang), classes="explain", markup=False)
            yield Label(t("trap.comment", self.lang), classes="field-label")
            yield CommentInput(id="comment")
            with Horizontal(classes="buttons"):
                yield Button(t("trap.retry", self.lang), id="retry", variant="primary")
                yield Button(t("trap.skip", self.lang), id="skip", variant="warning")
                yield Button(t("trap.abort", self.lang), id="abort", variant="error")
            yield self._hint(t("trap.hint", self.lang))

    def on_mount(self) -> None:
        self._count()

    def _count(self) -> None:
        self.refresh_countdown()
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if self.counting:
            self._ticker = self.set_interval(1.0, self.refresh_countdown)

    def subject_now(self, job_id: int, status: str | None, step: str | None) -> None:
        """A trap paused or resumed from elsewhere (another dashboard, the CLI) stops or restarts the
        countdown from what it showed; one resolved, or a job gone, has no timeout left to count."""
        super().subject_now(job_id, status, step)
        if job_id != self.job.id:
            return
        if status not in (Status.TRAPPED, Status.TRAP_PAUSED):
            self.job = replace(self.job, trap_left_s=None, trap_paused=False)
            if self._ticker is not None:
                self._ticker.stop()
                self._ticker = None
            self.query_one("#left", Static).display = False
            return
        paused = status == Status.TRAP_PAUSED
        if paused != self.job.trap_paused:
            self.job = replace(self.job, trap_left_s=self.time_left(), trap_paused=paused)
            self.opened_at = self.now()
            self._count()

    def time_left(self) -> float | None:
        """Seconds before the trap timeout action fires; None when it waits forever."""
        left = self.job.trap_left_s
        if left is None or self.job.trap_paused:
            return left
        elapsed = (self.now() - self.opened_at).total_seconds()
        return max(0.0, left - elapsed)

    def refresh_countdown(self) -> None:
        left = self.time_left()
        if left is None:
            shown = t("trap.forever", self.lang)
        elif left <= 0:
            shown = t("trap.timed_out", self.lang)
        else:
            shown = format_duration(left)
        key = "trap.left_paused" if self.job.trap_paused else "trap.left"
        self.query_one("#left", Static).update(t(key, self.lang, left=shown))
        self.query_one("#left", Static).set_class(left is not None and left <= 0, "error")

    def action_comment_done(self) -> None:
        self.set_focus(self.query_one("#retry", Button))

    def action_choose(self, action: str) -> None:
        self.dismiss((action, self.query_one("#comment", Input).value.strip()))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in TRAP_ACTIONS:
            self.action_choose(event.button.id)
