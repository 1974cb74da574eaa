"""StatusPicker: which statuses the job table shows. Space ticks a status, Enter applies; presets: one key."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, SelectionList
from textual.widgets.selection_list import Selection

from jobtui.engine.domain.states import NEEDS_ATTENTION, Status, status_label
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.widgets.status_style import STYLES, SYMBOLS

# The presets: key → (its name's text key, the statuses it ticks). "all" ticks none: no status filter.
PRESETS: dict[str, tuple[str, frozenset[str]]] = {
    "a": ("picker.attention", frozenset(status.value for status in NEEDS_ATTENTION)),
    "r": ("picker.running", frozenset({Status.RUNNING.value, Status.ROLLBACK.value})),
    "x": (
        "picker.failed",
        frozenset({Status.ERROR.value, Status.ABEND.value, Status.PARTIAL.value, Status.EXPIRED.value}),
    ),
    "0": ("picker.all", frozenset()),
}


class StatusPicker(DialogScreen[frozenset[str] | None]):
    """Answers the statuses ticked (none: every status), or None when left with Escape."""

    AUTO_FOCUS = "#statuses"
    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding: the list's own Enter would tick the highlighted status instead.
        Binding("enter", "apply", show=False, priority=True),
        *(Binding(key, f"preset('{key}')", show=False) for key in PRESETS),
    ]

    def __init__(self, chosen: frozenset[str], lang: str = "en") -> None:
        super().__init__(lang)
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield self._title(t("picker.title", lang))
            yield SelectionList[str](
                *(
                    Selection(
                        Text.assemble((f"{SYMBOLS[status]} ", STYLES[status]), status_label(status, lang)),
                        status.value,
                        status.value in self.chosen,
                    )
                    for status in Status
                ),
                id="statuses",
            )
            with Horizontal(classes="buttons"):
                for key, (name, _statuses) in PRESETS.items():
                    yield Button(f"{key} {t(name, self.lang)}", id=f"preset-{key}")
            yield self._hint(t("picker.hint", self.lang))

    @property
    def ticked(self) -> frozenset[str]:
        return frozenset(self.query_one("#statuses", SelectionList).selected)

    def action_preset(self, key: str) -> None:
        statuses = PRESETS[key][1]
        picker: SelectionList[str] = self.query_one("#statuses", SelectionList)
        picker.deselect_all()
        for status in statuses:
            picker.select(status)

    @on(Button.Pressed)
    def _preset_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("preset-"):
            self.action_preset(event.button.id.removeprefix("preset-"))

    def action_apply(self) -> None:
        self.dismiss(self.ticked)
