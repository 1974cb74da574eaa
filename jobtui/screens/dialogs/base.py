"""DialogScreen, the frame every dialog shares."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static

from jobtui.engine.domain.text import visible
from jobtui.engine.service.snapshot import JobSnapshot

ResultT = TypeVar("ResultT")


class DialogScreen(ModalScreen[ResultT]):
    """Shared frame: styles, the language, and Escape to leave without an answer."""

    # Textual resolves a relative CSS_PATH against the file of the screen's own class (the subclass), not
    # of the class that sets it: anchored here, it holds for a dialog defined in any module.
    CSS_PATH = str(Path(__file__).resolve().parents[2] / "styles" / "dialogs.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", show=False)]
    # Below 30 rows (80x24 over SSH, a split tmux pane) the screen has the class `-short`, and dialogs.tcss
    # drops the blank lines between a dialog's parts: with them the trap dialog, the tallest, needs 25 rows
    # and its last line fell under the bottom border at 24.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012 (Textual types it so)

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

    def subject_job(self) -> JobSnapshot | None:
        """The job this dialog is about (None: an envelope, the queue, nothing)."""
        job = getattr(self, "job", None)
        return job if isinstance(job, JobSnapshot) else None

    def subject_job_id(self) -> int | None:
        job = self.subject_job()
        return None if job is None else job.id

    def subject_now(self, job_id: int, status: str | None, step: str | None) -> None:
        """The job this dialog is about changed while it was open (status None: it is gone): its facts
        line says how it is now, marked. Nothing for a dialog about no job or another one."""
        from jobtui.screens.dialogs.subject import job_facts_now

        job = self.subject_job()
        if job is None or job.id != job_id or (status, step) == (job.status, job.step):
            return
        for facts in self.query(".job-facts").results(Static):
            facts.update(job_facts_now(job, status, step, self.lang))
            facts.add_class("-changed")

    def _title(self, text: str) -> Static:
        # Titles name jobs and envelopes: plain text (markup=False), control characters shown.
        return Static(visible(text), classes="dialog-title", markup=False)

    def _hint(self, text: str) -> Static:
        return Static(text, classes="hint", markup=False)
