"""Check boxes and radio buttons whose mark reads without colour.

Textual draws a toggle's mark the same whether it is on or off (`▐X▌`, `▐●▌`) and tells them apart by
colour alone: under NO_COLOR or on a monochrome terminal every box looked ticked. These leave the box
empty while it is off.
"""

from __future__ import annotations

from textual.widgets import Checkbox, RadioButton

OFF = " "


class _Mark:
    """A toggle's BUTTON_INNER that follows its value: Textual reads `self.BUTTON_INNER` each time it draws
    the button, and redraws when the value changes."""

    def __init__(self, on: str) -> None:
        self.on = on

    def __get__(self, button: Checkbox | RadioButton | None, owner: type) -> str:
        return self.on if button is None or button.value else OFF


class Tick(Checkbox):
    """A check box: `▐X▌` ticked, `▐ ▌` not."""

    BUTTON_INNER = _Mark(Checkbox.BUTTON_INNER)


class Choice(RadioButton):
    """A radio button: `▐●▌` chosen, `▐ ▌` not."""

    BUTTON_INNER = _Mark(RadioButton.BUTTON_INNER)
