"""NotificationsScreen: an envelope's notifications."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from jobtui.engine.domain.text import visible
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.screens.dialogs.times import _stamp, _zone

NOTE_LEVELS = ("info", "warning", "error")


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
                        yield Static(_stamp(note.get("at"), self.zone), classes="note-at", markup=False)
                        yield Static(
                            t(f"notes.level.{level}", self.lang) if known else visible(level),
                            classes=f"note-level level-{level}" if known else "note-level",
                            markup=False,
                        )
                        text = visible(str(note.get("text") or ""), keep="\n")
                        yield Static(text, classes="note-text", markup=False)
            yield self._hint(t("notes.hint", self.lang))
