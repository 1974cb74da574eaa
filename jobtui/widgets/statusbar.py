"""The top bar: queue state (impossible to miss), counts per status, who, which database, which engine,
and whether the screen is live or frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import Static

from jobtui.engine.domain.states import Status
from jobtui.i18n import t
from jobtui.widgets.status_style import STYLES, SYMBOLS


@dataclass(frozen=True)
class BarState:
    queue_paused: bool
    queue_reason: str | None
    counts: dict[str, int]
    user: str
    database: str
    engine: str
    frozen: bool
    readonly: bool = False


class StatusBar(Static):
    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.unreachable = False
        self._state: BarState | None = None
        self._drawn: tuple[str, tuple[Any, ...]] | None = None

    def mark_unreachable(self, unreachable: bool) -> None:
        """Say, until it is back, that the database cannot be reached (the numbers shown are stale)."""
        self.unreachable = unreachable
        self.set_class(unreachable, "db-unreachable")
        if self._state is not None:
            self.show(self._state)

    def show(self, state: BarState) -> None:
        self._state = state
        lang = self.lang
        self.set_class(state.queue_paused, "queue-paused")
        self.set_class(state.frozen, "frozen")
        text = Text()
        if self.unreachable:
            text.append(f" ⚠ {t('bar.db_unreachable', lang)} ", style="bold reverse")
            text.append(" ")
        if state.queue_paused:
            text.append(f" ⏸ {t('bar.queue_paused', lang)} ", style="bold reverse")
            if state.queue_reason:
                text.append(f" {state.queue_reason} ", style="bold")
        else:
            text.append(f" ▶ {t('bar.queue_running', lang)} ", style="bold")
        text.append("  ")
        for status in Status:
            count = state.counts.get(status.value, 0)
            if count:
                text.append(f"{SYMBOLS[status]}{count} ", style=STYLES[status])
        text.append(f"  {state.user} · {state.database} · {state.engine}")
        if state.readonly:
            text.append(f" · {t('bar.readonly', lang)}", style="bold")
        text.append("  ")
        text.append(
            f" {t('bar.frozen', lang)} " if state.frozen else f" {t('bar.live', lang)} ",
            style="bold reverse" if state.frozen else "bold",
        )
        # Rebuilt at every change in the database: repaint only when it reads differently, and never
        # lay the screen out again for it (the bar is one line, whatever it says).
        drawn = (text.plain, tuple(text.spans))
        if drawn != self._drawn:
            self._drawn = drawn
            self.update(text, layout=False)
