"""HelpScreen: the keys in force, and the status symbols."""

from __future__ import annotations

from typing import ClassVar

from rich.columns import Columns
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen


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
        envelope_legend: list[tuple[str, str]] | None = None,
    ) -> None:
        """`bindings`: (keys as typed, what they do); `legend`: (status symbol, status name), of jobs and of
        envelopes."""
        super().__init__(lang)
        self.bindings = bindings
        self.legend = legend or []
        self.envelope_legend = envelope_legend or []

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
                for title, legend in (
                    ("help.legend", self.legend),
                    ("help.envelope_legend", self.envelope_legend),
                ):
                    if legend:
                        yield Static(t(title, self.lang), classes="help-section", markup=False)
                        # Each symbol and its name are one cell, in as many columns as the width takes: in a
                        # grid of three fixed pairs, Rich squeezed the pairs at 80 columns, and the symbols'
                        # columns went first (the longer Spanish names, cut with an ellipsis, next).
                        entries = [Text(f"{symbol} {name}", no_wrap=True) for symbol, name in legend]
                        yield Static(Columns(entries, padding=(0, 3), equal=True))
            yield self._hint(t("help.hint", self.lang))
