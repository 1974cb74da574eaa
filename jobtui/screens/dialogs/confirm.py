"""ConfirmDialog: Yes or No."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from jobtui.engine.domain.text import visible
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.subject import _job_lines


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
            yield Static(visible(self.message, keep="\n"), classes="message", markup=False)
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
