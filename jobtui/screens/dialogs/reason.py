"""ReasonDialog: why, for the audit trail."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import EnvelopeFacts, _subject_lines


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
