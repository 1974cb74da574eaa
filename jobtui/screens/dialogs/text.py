"""TextScreen: read-only text of many lines, scrollable both ways."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Log

from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen


class TextScreen(DialogScreen[None]):
    """Read-only text, scrollable both ways; Log draws only the lines on screen."""

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
