"""The monitor's modal dialogs.

Each job dialog is built from a JobSnapshot taken when the operator pressed the key, never from the live
table row: the table repaints under the dialog, and the answer must apply to the job the operator read.
The dialogs only collect an answer; the caller passes it to `engine.actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import pendulum
from pendulum.tz.local_timezone import get_local_timezone
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Input, Label, Log, RadioButton, RadioSet, Static

from jobtui.engine.domain.clock import SystemClock
from jobtui.engine.domain.timeparse import TimeParseError, format_duration, parse_when
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import envelope_status_text, relative_time, status_text, t

__all__ = [
    "RERUN_STEPS",
    "TRAP_ACTIONS",
    "ConfirmDialog",
    "DialogScreen",
    "EnvelopeFacts",
    "HelpScreen",
    "NotificationsScreen",
    "ReasonDialog",
    "RerunDialog",
    "RescheduleDialog",
    "TextScreen",
    "TrapDialog",
]

ResultT = TypeVar("ResultT")
Zone = pendulum.Timezone | pendulum.FixedTimezone

RERUN_STEPS = ("PRE", "RUN", "POST")
TRAP_ACTIONS = ("retry", "skip", "abort")
NOTE_LEVELS = ("info", "warning", "error")


@dataclass(frozen=True)
class EnvelopeFacts:
    """What an envelope dialog shows, read when the key was pressed (like a JobSnapshot for a job)."""

    id: int
    name: str
    project: str
    status: str  # the derived EnvelopeStatus value
    jobs: int


def _status(job: JobSnapshot, lang: str) -> str:
    try:
        return status_text(job.status, lang)
    except ValueError:
        # A code this version does not know (a newer daemon wrote it): show what the snapshot said.
        return job.status_label


def _job_lines(job: JobSnapshot, lang: str) -> list[Static]:
    # markup=False everywhere job data is shown: names come from definition files and may contain "[".
    return [
        Static(t("common.job", lang, id=job.id, name=job.name), classes="job-line", markup=False),
        Static(
            t("common.job_facts", lang, project=job.project, status=_status(job, lang), step=job.step),
            classes="job-facts",
            markup=False,
        ),
    ]


def _envelope_lines(envelope: EnvelopeFacts, lang: str) -> list[Static]:
    try:
        status = envelope_status_text(envelope.status, lang)
    except KeyError:
        status = envelope.status  # a status this version does not know: show the code
    return [
        Static(
            t("common.envelope", lang, id=envelope.id, name=envelope.name), classes="job-line", markup=False
        ),
        Static(
            t("common.envelope_facts", lang, project=envelope.project, status=status, jobs=envelope.jobs),
            classes="job-facts",
            markup=False,
        ),
    ]


def _subject_lines(subject: JobSnapshot | EnvelopeFacts, lang: str) -> list[Static]:
    if isinstance(subject, EnvelopeFacts):
        return _envelope_lines(subject, lang)
    return _job_lines(subject, lang)


def _zone(tz: str | None) -> Zone:
    return pendulum.Timezone(tz) if tz else get_local_timezone()


def _utc(when: datetime) -> pendulum.DateTime:
    # The store hands back aware datetimes; a naive one can only be UTC, which is how it was written.
    return pendulum.instance(when, tz="UTC").in_tz("UTC")


def _absolute(when: datetime, zone: Zone) -> str:
    local = _utc(when).in_tz(zone)
    return local.format("YYYY-MM-DD HH:mm:ss zz" if local.second else "YYYY-MM-DD HH:mm zz")


class DialogScreen(ModalScreen[ResultT]):
    """Shared frame: styles, the language, and Escape to leave without an answer."""

    CSS_PATH = "../styles/dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", show=False)]

    def __init__(self, lang: str = "en") -> None:
        super().__init__()
        self.lang = lang

    def action_cancel(self) -> None:
        self.dismiss(None)

    def take_focus(self) -> None:
        """Focus what AUTO_FOCUS names at once, once mounted: the keys the operator typed right after the
        one that opened the dialog are already on their way, and must reach that widget."""
        if not self.AUTO_FOCUS or self.focused is not None:
            return
        for widget in self.query(self.AUTO_FOCUS):
            if widget.focusable:
                self.set_focus(widget)
                return

    def _title(self, text: str) -> Static:
        return Static(text, classes="dialog-title", markup=False)

    def _hint(self, text: str) -> Static:
        return Static(text, classes="hint", markup=False)


class ConfirmDialog(DialogScreen[bool]):
    """Yes/No for cancel, delete and the queue commands; No has the focus so a stray Enter is harmless."""

    AUTO_FOCUS = "#no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", show=False),
        Binding("n", "cancel", show=False),
    ]

    def __init__(self, title: str, job: JobSnapshot | None, message: str, lang: str = "en") -> None:
        super().__init__(lang)
        self.title_text = title
        self.job = job
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(self.title_text)
            if self.job is not None:
                yield from _job_lines(self.job, self.lang)
            yield Static(self.message, classes="message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(t("common.yes", self.lang), id="yes", variant="error")
                yield Button(t("common.no", self.lang), id="no", variant="primary")
            yield self._hint(t("confirm.hint", self.lang))

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ReasonDialog(DialogScreen[str | None]):
    """Asks why (rolling back a job or an envelope); the answer goes to the audit trail, so a required
    reason cannot be blank."""

    AUTO_FOCUS = "#reason"

    def __init__(
        self,
        title: str,
        job: JobSnapshot | EnvelopeFacts,
        lang: str = "en",
        required: bool = True,
        placeholder: str = "",
    ) -> None:
        super().__init__(lang)
        self.title_text = title
        self.job = job
        self.required = required
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(self.title_text)
            yield from _subject_lines(self.job, self.lang)
            yield Label(t("reason.label", self.lang), classes="field-label")
            yield Input(placeholder=self.placeholder, id="reason")
            error = Static("", id="error", classes="error", markup=False)
            error.display = False
            yield error
            with Horizontal(classes="buttons"):
                yield Button(t("common.confirm", self.lang), id="confirm", variant="primary")
                yield Button(t("common.cancel", self.lang), id="cancel")
            yield self._hint(t("reason.hint", self.lang))

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if self.required and not reason:
            error = self.query_one("#error", Static)
            error.update(t("reason.required", self.lang))
            error.display = True
            self.query_one("#reason", Input).focus()
            return
        self.dismiss(reason)

    @on(Input.Changed, "#reason")
    def _typed(self, event: Input.Changed) -> None:
        if event.value.strip():
            self.query_one("#error", Static).display = False

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


class RerunDialog(DialogScreen[tuple[str, bool] | None]):
    """Pick the step to rerun from; Run now only makes sense for RUN, the one step that waits for a date."""

    AUTO_FOCUS = "#step"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "step('PRE')", show=False),
        Binding("2", "step('RUN')", show=False),
        Binding("3", "step('POST')", show=False),
        Binding("n", "toggle_run_now", show=False),
    ]

    def __init__(self, job: JobSnapshot, lang: str = "en") -> None:
        super().__init__(lang)
        self.job = job
        # A job that never got past PRE has nothing to repeat later than PRE.
        self.default_step = "PRE" if job.step in ("INIT", "PRE") else "RUN"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(t("rerun.title", self.lang, id=self.job.id))
            yield from _job_lines(self.job, self.lang)
            yield Label(t("rerun.step", self.lang), classes="field-label")
            with RadioSet(id="step"):
                for step in RERUN_STEPS:
                    yield RadioButton(step, id=f"step-{step}")
            yield Checkbox(t("rerun.run_now", self.lang), id="run-now", disabled=self.default_step != "RUN")
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
        # Keyboard first: 1/2/3 and n choose, so Enter can confirm straight away.
        self.query_one("#confirm", Button).focus()

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
        self.query_one("#explain", Static).update(t(f"rerun.explain.{key}", self.lang))

    def action_step(self, step: str) -> None:
        self.query_one(f"#step-{step}", RadioButton).value = True

    def action_toggle_run_now(self) -> None:
        run_now = self.query_one("#run-now", Checkbox)
        if not run_now.disabled:
            run_now.toggle()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss((self.step, self.run_now))

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


class RescheduleDialog(DialogScreen[pendulum.DateTime | None]):
    """A new RUN date, echoed back as the operator types so "+2h" vs "2h" mistakes show before Enter."""

    AUTO_FOCUS = "#when"

    def __init__(
        self,
        job: JobSnapshot,
        now: Callable[[], pendulum.DateTime],
        tz: str | None = None,
        lang: str = "en",
    ) -> None:
        super().__init__(lang)
        self.job = job
        self.now = now
        self.tz = tz
        self.zone = _zone(tz)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(t("reschedule.title", self.lang, id=self.job.id))
            yield from _job_lines(self.job, self.lang)
            yield Static("", id="current", markup=False)
            yield Static("", id="max-start", markup=False)
            yield Label(t("reschedule.label", self.lang), classes="field-label")
            yield Input(placeholder=t("reschedule.placeholder", self.lang), id="when")
            yield Static("", id="preview", markup=False)
            yield Static("", id="max-preview", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(t("common.confirm", self.lang), id="confirm", variant="primary")
                yield Button(t("common.cancel", self.lang), id="cancel")
            yield self._hint(t("reschedule.hint", self.lang, zone=self.zone.name))

    def on_mount(self) -> None:
        self.refresh_times()
        # Relative times ("in 2 h") drift while the dialog is open; keep them honest.
        self.set_interval(1.0, self.refresh_times)

    def _describe(self, when: datetime | None, now: pendulum.DateTime) -> str:
        if when is None:
            return t("reschedule.unset", self.lang)
        relative = relative_time((_utc(when) - now).total_seconds(), self.lang)
        return f"{_absolute(when, self.zone)} ({relative})"

    def _moved_max_start(self, new: pendulum.DateTime) -> pendulum.DateTime | None:
        # Same rule as engine.actions: the expiry span is kept, so only a job with both dates moves it.
        if self.job.scheduled_at is None or self.job.max_start_at is None:
            return None
        return new + (_utc(self.job.max_start_at) - _utc(self.job.scheduled_at))

    def refresh_times(self) -> None:
        now = self.now()
        self.query_one("#current", Static).update(
            t("reschedule.current", self.lang, when=self._describe(self.job.scheduled_at, now))
        )
        self.query_one("#max-start", Static).update(
            t("reschedule.max_start", self.lang, when=self._describe(self.job.max_start_at, now))
        )
        preview = self.query_one("#preview", Static)
        max_preview = self.query_one("#max-preview", Static)
        moves = self._moved_max_start(now) is not None
        text = self.query_one("#when", Input).value
        if not text.strip():
            preview.remove_class("error")
            preview.update(t("reschedule.empty", self.lang))
            max_preview.update(t("reschedule.max_moves_plain", self.lang) if moves else "")
            return
        try:
            when = parse_when(text, now, self.tz)
        except TimeParseError as exc:
            preview.add_class("error")
            preview.update(t("common.error", self.lang, message=str(exc)))
            max_preview.update("")
            return
        preview.remove_class("error")
        lines = [t("reschedule.new", self.lang, when=self._describe(when, now))]
        if when < now:
            lines.append(t("reschedule.past", self.lang))
        preview.update("\n".join(lines))
        new_max = self._moved_max_start(when)
        max_preview.update(
            t("reschedule.max_moves", self.lang, when=_absolute(new_max, self.zone)) if new_max else ""
        )

    @on(Input.Changed, "#when")
    def _typed(self) -> None:
        self.refresh_times()

    @on(Input.Submitted, "#when")
    @on(Button.Pressed, "#confirm")
    def _submit(self) -> None:
        # Parse again with the time of the keypress: "+2h" means two hours from when it was confirmed.
        try:
            when = parse_when(self.query_one("#when", Input).value, self.now(), self.tz)
        except TimeParseError:
            self.refresh_times()
            self.query_one("#when", Input).focus()
            return
        self.dismiss(when)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


class TrapDialog(DialogScreen[tuple[str, str] | None]):
    """Resolve a trapped op. The countdown is the snapshot's time left minus the time the dialog is open,
    so the operator sees the timeout action coming without the dialog re-reading the job."""

    AUTO_FOCUS = "#retry"
    # Plain keys are safe: while the comment Input has the focus it consumes printable keys first.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('retry')", show=False),
        Binding("s", "choose('skip')", show=False),
        Binding("a", "choose('abort')", show=False),
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
            yield Static(t("trap.op", self.lang, op=op), id="op", markup=False)
            yield Static("", id="left", markup=False)
            yield Static(t("trap.explain", self.lang), classes="explain", markup=False)
            yield Label(t("trap.comment", self.lang), classes="field-label")
            yield Input(id="comment")
            with Horizontal(classes="buttons"):
                yield Button(t("trap.retry", self.lang), id="retry", variant="primary")
                yield Button(t("trap.skip", self.lang), id="skip", variant="warning")
                yield Button(t("trap.abort", self.lang), id="abort", variant="error")
            yield self._hint(t("trap.hint", self.lang))

    def on_mount(self) -> None:
        self.refresh_countdown()
        if self.counting:
            self._ticker = self.set_interval(1.0, self.refresh_countdown)

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

    def action_choose(self, action: str) -> None:
        self.dismiss((action, self.query_one("#comment", Input).value.strip()))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in TRAP_ACTIONS:
            self.action_choose(event.button.id)

    @on(Input.Submitted, "#comment")
    def _comment_done(self) -> None:
        # Enter ends the comment rather than picking an action: the operator still has to say which.
        self.query_one("#retry", Button).focus()


class HelpScreen(DialogScreen[None]):
    """The key map of the screen that opened it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "cancel", show=False),
        Binding("q", "cancel", show=False),
    ]

    def __init__(
        self,
        bindings: list[tuple[str, str]],
        lang: str = "en",
        legend: list[tuple[str, str]] | None = None,
    ) -> None:
        """`bindings`: (keys as typed, what they do); `legend`: (status symbol, status name)."""
        super().__init__(lang)
        self.bindings = bindings
        self.legend = legend or []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog large"):
            yield self._title(t("help.title", self.lang))
            with VerticalScroll(id="keys"):
                if self.bindings:
                    grid = Table.grid(padding=(0, 3))
                    grid.add_column(style="bold", no_wrap=True)
                    grid.add_column()
                    for key, description in self.bindings:
                        grid.add_row(Text(key), Text(description))
                    yield Static(grid)
                else:
                    yield Static(t("help.empty", self.lang), markup=False)
                if self.legend:
                    yield Static(t("help.legend", self.lang), classes="help-section", markup=False)
                    symbols = Table.grid(padding=(0, 1))
                    for _ in range(3):
                        symbols.add_column(no_wrap=True)
                        symbols.add_column(no_wrap=True)
                    cells = [Text(part) for symbol, name in self.legend for part in (symbol, name)]
                    for start in range(0, len(cells), 6):
                        symbols.add_row(*cells[start : start + 6])
                    yield Static(symbols)
            yield self._hint(t("help.hint", self.lang))


class TextScreen(DialogScreen[None]):
    """Read-only text (a job's full log, its audit trail), scrollable both ways."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "cancel", show=False)]

    def __init__(self, title: str, lines: list[str], lang: str = "en", start_at_end: bool = False) -> None:
        super().__init__(lang)
        self.title_text = title
        self.lines = lines
        self.start_at_end = start_at_end

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog large"):
            yield self._title(self.title_text)
            # Log rather than Static: logs can be long, and Log renders only the visible lines, no markup.
            yield Log(id="body", auto_scroll=self.start_at_end)
            yield self._hint(t("text.hint", self.lang))

    def on_mount(self) -> None:
        self.query_one("#body", Log).write_lines(self.lines or [t("text.empty", self.lang)])


class NotificationsScreen(DialogScreen[None]):
    """An envelope's notifications, oldest first: local time, level, text."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "cancel", show=False),
        Binding("n", "cancel", show=False),
    ]

    def __init__(
        self, title: str, notes: list[dict[str, Any]], tz: str | None = None, lang: str = "en"
    ) -> None:
        super().__init__(lang)
        self.title_text = title
        self.notes = notes
        self.zone = _zone(tz)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog large"):
            yield self._title(self.title_text)
            with VerticalScroll(id="notes"):
                if not self.notes:
                    yield Static(t("notes.empty", self.lang), markup=False)
                for note in self.notes:
                    level = str(note.get("level") or "")
                    known = level in NOTE_LEVELS
                    # The level's colour comes from dialogs.tcss; the word itself reads without colour.
                    with Horizontal(classes="note"):
                        yield Static(self._when(note.get("at")), classes="note-at", markup=False)
                        yield Static(
                            t(f"notes.level.{level}", self.lang) if known else level,
                            classes=f"note-level level-{level}" if known else "note-level",
                            markup=False,
                        )
                        yield Static(str(note.get("text") or ""), classes="note-text", markup=False)
            yield self._hint(t("notes.hint", self.lang))

    def _when(self, at: object) -> str:
        if not isinstance(at, str) or not at:
            return "-"
        parsed = pendulum.parse(at)
        if not isinstance(parsed, pendulum.DateTime):
            return at
        return _utc(parsed).in_tz(self.zone).format("YYYY-MM-DD HH:mm:ss")
