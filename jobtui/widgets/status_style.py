"""How a status looks: a symbol that reads without colour (NO_COLOR), and a colour of the palette that suits
the theme (dark or light), each reaching 4.5:1 contrast on the theme's backgrounds (tests/ui/test_contrast.py
computes it). The statuses that wait for a person are filled chips; the others, final ones included, are
coloured text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from jobtui.engine.domain.envelopes import EnvelopeStatus
from jobtui.engine.domain.states import Status, status_label

SYMBOLS: dict[str, str] = {
    Status.READY: "○",
    Status.RUNNING: "▶",
    Status.APPROVAL: "◆",
    Status.REJECTED: "⊘",
    Status.EXPIRED: "⊗",
    Status.ABEND: "‼",
    Status.ROLLBACK: "↺",
    Status.ROLLEDBACK: "↶",
    Status.FINISHED: "✔",
    Status.PARTIAL: "◐",
    Status.ERROR: "✘",
    Status.CANCELED: "■",
    Status.TRAPPED: "⚠",
    Status.TRAP_PAUSED: "‖",
    Status.PAUSED: "∥",
    Status.REPLACED: "⇄",
}
# An envelope's derived status: a job status's symbol where the two mean alike (a success, one that still
# runs, errors, canceled, rolled back); none of a job status's where they differ (⚠ is Trapped, which waits
# for a person: an envelope with errors and jobs still going does not).
ENVELOPE_SYMBOLS: dict[EnvelopeStatus, str] = {
    EnvelopeStatus.SUCCESS: "✔",
    EnvelopeStatus.SUCCESS_ACTIVE: "▶",
    EnvelopeStatus.ERRORS: "✘",
    EnvelopeStatus.ERRORS_ACTIVE: "⚑",
    EnvelopeStatus.CORRUPT: "☒",
    EnvelopeStatus.CANCELLED: "■",
    EnvelopeStatus.ROLLEDBACK: "↶",
}
# Text that moves (a job at work) or went wrong reads bold.
BOLD = frozenset({Status.RUNNING, Status.ROLLBACK})


@dataclass(frozen=True)
class Palette:
    """Colours for one kind of theme: `text` for statuses drawn as coloured text, `chips` (text, fill) for
    those that wait for a person; `tray`, the ground the header's counts sit on."""

    dark: bool
    tray: str
    text: dict[Status, str]
    chips: dict[Status, tuple[str, str]]

    def style(self, status: Status) -> Style:
        if status in self.chips:
            color, fill = self.chips[status]
            return Style(color=color, bgcolor=fill, bold=True)
        return Style(color=self.text.get(status), bold=status in BOLD)


DARK = Palette(
    dark=True,
    tray="#121212",
    text={
        Status.READY: "#E0E0E0",
        Status.RUNNING: "#6CB6FF",
        Status.REJECTED: "#D7A0FF",
        Status.ROLLBACK: "#FF8FE0",
        Status.ROLLEDBACK: "#C0A0FF",
        Status.FINISHED: "#6BD66B",
        Status.PARTIAL: "#E0D060",
        Status.CANCELED: "#A8A8A8",
        Status.REPLACED: "#A8A8A8",
    },
    chips={
        Status.TRAPPED: ("#000000", "#FFAF00"),
        Status.TRAP_PAUSED: ("#000000", "#D7B46A"),
        Status.APPROVAL: ("#000000", "#3FC5E8"),
        Status.ABEND: ("#000000", "#FF7AC8"),
        Status.ERROR: ("#000000", "#FF6B6B"),
        Status.EXPIRED: ("#000000", "#BDBDBD"),
        Status.PAUSED: ("#000000", "#9FD8FF"),
    },
)
LIGHT = Palette(
    dark=False,
    tray="#E0E0E0",
    text={
        Status.READY: "#1A1A1A",
        Status.RUNNING: "#0A4FA8",
        Status.REJECTED: "#6A1B9A",
        Status.ROLLBACK: "#8E0A6E",
        Status.ROLLEDBACK: "#4B2C9E",
        Status.FINISHED: "#145F14",
        Status.PARTIAL: "#5C4D00",
        Status.CANCELED: "#4A4A4A",
        Status.REPLACED: "#4A4A4A",
    },
    chips={
        Status.TRAPPED: ("#000000", "#F5A300"),
        Status.TRAP_PAUSED: ("#000000", "#D9B86C"),
        Status.APPROVAL: ("#FFFFFF", "#006A85"),
        Status.ABEND: ("#FFFFFF", "#A0005E"),
        Status.ERROR: ("#FFFFFF", "#B71C1C"),
        Status.EXPIRED: ("#FFFFFF", "#555555"),
        Status.PAUSED: ("#FFFFFF", "#00577A"),
    },
)


class _Current:
    """The palette in use (the app switches it with its theme); `generation` counts the switches, so a
    drawing cached with an older palette is known stale."""

    palette: Palette = DARK
    generation = 0


# The styles of the palette in use, by status code.
STYLES: dict[str, Style] = {}


def use_palette(dark: bool) -> None:
    chosen = DARK if dark else LIGHT
    if STYLES and _Current.palette is chosen:
        return
    _Current.palette = chosen
    _Current.generation += 1
    STYLES.clear()
    STYLES.update({status.value: chosen.style(status) for status in Status})


def palette() -> Palette:
    return _Current.palette


def generation() -> int:
    return _Current.generation


use_palette(dark=True)


def status_text(status: str, lang: str = "en") -> Text:
    return Text(f"{SYMBOLS.get(status, '?')} {status_label(status, lang)}", style=STYLES.get(status, Style()))


def progress_text(percent: int | None, width: int = 10) -> Text:
    """A bar and the percentage; None (a value no percentage: changed by hand) an empty bar and "?"."""
    if type(percent) is not int:
        return Text("░" * width + "    ?", style=Style(dim=True))
    filled = max(0, min(width, round(percent * width / 100)))
    bar = Text("█" * filled, style=Style(color="green"))
    bar.append("░" * (width - filled), style=Style(dim=True))
    bar.append(f" {percent:>3}%")
    return bar
