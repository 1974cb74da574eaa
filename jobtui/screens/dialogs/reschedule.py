"""RescheduleDialog: a new RUN date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pendulum
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from jobtui.engine.domain.timeparse import TimeParseError, parse_when
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import DEFAULT_LANG, relative_time, t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import _job_lines
from jobtui.screens.dialogs.times import _absolute, _utc, _zone


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
            yield Input(
                placeholder=t("reschedule.placeholder", self.lang, example=self._example()), id="when"
            )
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

    def _example(self) -> str:
        """An ISO date to show how one is typed: tomorrow at 02:00 here (a fixed one would be past)."""
        tomorrow = self.now().in_timezone(self.zone).add(days=1)
        return f"{tomorrow.format('YYYY-MM-DD')}T02:00"

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
            message = str(exc)
            if self.lang != DEFAULT_LANG:
                message = t("reschedule.unreadable", self.lang, text=text.strip(), example=self._example())
            preview.add_class("error")
            preview.update(t("common.error", self.lang, message=message))
            max_preview.update("")
            return
        preview.remove_class("error")
        lines = [t("reschedule.new", self.lang, when=self._describe(when, now))]
        if when < now:
            lines.append(t("reschedule.past", self.lang))
        preview.update("\n".join(lines))
        new_max = self._moved_max_start(max(when, now))  # as the reschedule counts a past date: from now
        key = "reschedule.max_from_now" if when < now else "reschedule.max_moves"
        max_preview.update(t(key, self.lang, when=_absolute(new_max, self.zone)) if new_max else "")

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
