"""How a status looks: a symbol that reads without colour (NO_COLOR, light or dark terminals) and a
colour from the terminal's own 16-colour palette, which every theme keeps legible."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

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

STYLES: dict[str, Style] = {
    Status.READY: Style(),
    Status.RUNNING: Style(color="blue", bold=True),
    Status.APPROVAL: Style(color="cyan", bold=True),
    Status.REJECTED: Style(color="magenta"),
    Status.EXPIRED: Style(dim=True),
    Status.ABEND: Style(color="red", bold=True, reverse=True),
    Status.ROLLBACK: Style(color="magenta", bold=True),
    Status.ROLLEDBACK: Style(color="magenta"),
    Status.FINISHED: Style(color="green"),
    Status.PARTIAL: Style(color="yellow"),
    Status.ERROR: Style(color="red", bold=True),
    Status.CANCELED: Style(dim=True),
    Status.TRAPPED: Style(color="yellow", bold=True, reverse=True),
    Status.TRAP_PAUSED: Style(color="yellow", bold=True),
    Status.PAUSED: Style(color="cyan"),
    Status.REPLACED: Style(dim=True),
}


def status_text(status: str, lang: str = "en") -> Text:
    return Text(f"{SYMBOLS.get(status, '?')} {status_label(status, lang)}", style=STYLES.get(status, Style()))


def progress_text(percent: int, width: int = 10) -> Text:
    filled = max(0, min(width, round(percent * width / 100)))
    bar = Text("█" * filled, style=Style(color="green"))
    bar.append("░" * (width - filled), style=Style(dim=True))
    bar.append(f" {percent:>3}%")
    return bar
