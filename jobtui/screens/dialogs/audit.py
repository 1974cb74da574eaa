"""AuditScreen: a job's audit trail, oldest first."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from jobtui.engine.domain.text import visible
from jobtui.i18n import audit_row_action_text, audit_status_text, audit_who_text, t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.times import _stamp, _zone


class AuditScreen(DialogScreen[None]):
    """Each row: its local time beside who did what and the move it made, the comment wrapped under those.

    One line of fixed-width columns (as a log) left the comment, the why, past the right edge at 80
    columns and cut at 120; here it wraps in the width the time leaves."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "cancel", show=False)]

    def __init__(
        self, title: str, rows: list[dict[str, Any]], tz: str | None = None, lang: str = "en"
    ) -> None:
        super().__init__(lang)
        self.title_text = title
        self.rows = rows
        self.zone = _zone(tz)

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog large"):
            yield self._title(self.title_text)
            with VerticalScroll(id="audit"):
                if not self.rows:
                    yield Static(t("text.empty", lang), markup=False)
                for row in self.rows:
                    with Horizontal(classes="audit-row"):
                        yield Static(_stamp(row.get("at"), self.zone), classes="audit-at", markup=False)
                        with Vertical(classes="audit-what"):
                            yield Static(visible(self._what(row)), classes="audit-action", markup=False)
                            if row.get("comment"):
                                comment = visible(str(row["comment"]), keep="\n")
                                yield Static(comment, classes="audit-comment", markup=False)
            yield self._hint(t("text.hint", lang))

    def _what(self, row: dict[str, Any]) -> str:
        lang = self.lang
        what = f"{audit_who_text(row, lang)}  {audit_row_action_text(row, lang)}"
        if row.get("from") or row.get("to"):
            what += f"  {audit_status_text(row.get('from'), lang)} → {audit_status_text(row.get('to'), lang)}"
        return what
