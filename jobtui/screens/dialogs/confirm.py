"""ConfirmDialog: Yes or No, and for a job's approve, reject or cancel (or an envelope's cancel) an optional
comment for its audit trail (for the queue's pause, an optional reason)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from jobtui.engine.domain.text import visible
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import EnvelopeFacts, _subject_lines


class ConfirmDialog(DialogScreen[bool]):
    """Yes/No for the job commands that change a job (but the ones that ask for more) and the queue's; No
    has the focus so a stray Enter is harmless.

    With `comment`, a field for why (approve, reject, cancel): `c` or Tab goes into it, where every key is
    text (a comment may well hold a y or an n) and Enter answers yes with it. `y` answers yes without one,
    as it always did, so the keys an operator knows stay what they were. With `reason`, the same field asks
    for a reason (pausing the queue: the header shows it) and says so."""

    AUTO_FOCUS = "#no"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", show=False),
        Binding("n", "cancel", show=False),
        Binding("c", "comment", show=False),
    ]

    def __init__(
        self,
        title: str,
        job: JobSnapshot | EnvelopeFacts | None,
        message: str,
        lang: str = "en",
        comment: bool = False,
        reason: bool = False,
    ) -> None:
        super().__init__(lang)
        self.title_text = title
        self.job = job
        self.message = message
        self.asks_comment = comment or reason
        self.asks_reason = reason
        # What the operator wrote in the comment field, trimmed, kept as they answer yes: the dialog's
        # widgets may be gone by the time its answer is acted on.
        self.comment = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield self._title(self.title_text)
            if self.job is not None:
                yield from _subject_lines(self.job, self.lang)
            yield Static(visible(self.message, keep="\n"), classes="message", markup=False)
            if self.asks_comment:
                label = "confirm.reason" if self.asks_reason else "confirm.comment"
                yield Label(t(label, self.lang), classes="field-label")
                yield Input(id="comment")
            with Horizontal(classes="buttons"):
                yield Button(t("common.yes", self.lang), id="yes", variant="error")
                yield Button(t("common.no", self.lang), id="no", variant="primary")
            hint = "confirm.hint"
            if self.asks_comment:
                hint = "confirm.hint_reason" if self.asks_reason else "confirm.hint_comment"
            yield self._hint(t(hint, self.lang))

    def action_confirm(self) -> None:
        self._answer(True)

    def action_cancel(self) -> None:
        self._answer(False)

    def action_comment(self) -> None:
        if self.asks_comment:
            self.set_focus(self.query_one("#comment", Input))

    @on(Input.Submitted, "#comment")
    def _commented(self) -> None:
        self._answer(True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self._answer(event.button.id == "yes")

    def _answer(self, yes: bool) -> None:
        if yes and self.asks_comment:
            self.comment = self.query_one("#comment", Input).value.strip()
        self.dismiss(yes)
