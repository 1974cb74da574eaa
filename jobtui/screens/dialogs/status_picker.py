"""StatusPicker: which statuses the job table shows. Space ticks a status, Enter applies; presets: one key.

The statuses stand in two columns of check boxes, so the picker, its presets and its hint fit whole at
80x24: in one list the 16 statuses took every row the dialog had, and the presets fell under its border.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button

from jobtui.engine.domain.states import NEEDS_ATTENTION, Status, status_label
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.widgets.status_style import STYLES, SYMBOLS
from jobtui.widgets.ticks import Tick

# dialogs.tcss lays the check boxes out in this many columns; the arrows move through them as drawn.
COLUMNS = 2

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

    AUTO_FOCUS = "#statuses Tick"
    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding: the focused check box's own Enter would tick it instead.
        Binding("enter", "apply", show=False, priority=True),
        *(Binding(key, f"preset('{key}')", show=False) for key in PRESETS),
        Binding("up", f"move({-COLUMNS})", show=False),
        Binding("down", f"move({COLUMNS})", show=False),
        Binding("left", "move(-1)", show=False),
        Binding("right", "move(1)", show=False),
    ]

    def __init__(self, chosen: frozenset[str], lang: str = "en") -> None:
        super().__init__(lang)
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(classes="dialog"):
            yield self._title(t("picker.title", lang))
            with Grid(id="statuses"):
                for status in Status:
                    yield Tick(
                        Text.assemble((f"{SYMBOLS[status]} ", STYLES[status]), status_label(status, lang)),
                        status.value in self.chosen,
                        name=status.value,
                    )
            with Horizontal(classes="buttons"):
                for key, (name, _statuses) in PRESETS.items():
                    yield Button(f"{key} {t(name, self.lang)}", id=f"preset-{key}")
            yield self._hint(t("picker.hint", self.lang))

    @property
    def boxes(self) -> list[Tick]:
        return list(self.query_one("#statuses", Grid).query_children(Tick))

    @property
    def ticked(self) -> frozenset[str]:
        return frozenset(box.name for box in self.boxes if box.value and box.name)

    def action_preset(self, key: str) -> None:
        statuses = PRESETS[key][1]
        for box in self.boxes:
            box.value = box.name in statuses

    def action_move(self, step: int) -> None:
        boxes, focused = self.boxes, self.focused
        if not isinstance(focused, Tick) or focused not in boxes:
            raise SkipAction  # on a preset button the arrows are not the boxes'
        here = boxes.index(focused)
        index = here + step
        if abs(step) < COLUMNS and index // COLUMNS != here // COLUMNS:
            return  # left and right stay on their row
        if 0 <= index < len(boxes):
            boxes[index].focus()

    @on(Button.Pressed)
    def _preset_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("preset-"):
            self.action_preset(event.button.id.removeprefix("preset-"))

    def action_apply(self) -> None:
        self.dismiss(self.ticked)
