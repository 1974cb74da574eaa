"""The top bar: queue state (impossible to miss), counts per status, who, which database, which engine,
and whether the screen is live or frozen."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from jobtui.engine.domain.states import NEEDS_ATTENTION, Status
from jobtui.engine.domain.text import visible
from jobtui.i18n import t
from jobtui.widgets.status_style import STYLES, SYMBOLS, palette


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
    # Jobs per status among those the filter shows; None when no filter narrows them (`counts` then).
    shown: dict[str, int] | None = None
    # Jobs due and waiting while no engine runs them (no daemon, none embedded): 0 when one does.
    unserved: int = 0
    # Jobs waiting for a person, system jobs too (None: counted from `counts`).
    attention: int | None = None


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

    def show_engine(self, engine: str) -> None:
        """Name another engine at once, without waiting for the next read of the counts."""
        if self._state is not None and self._state.engine != engine:
            self.show(replace(self._state, engine=engine))

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw what it shows again (in another palette: the theme changed)."""
        if self._state is not None:
            self.show(self._state)

    def show(self, state: BarState) -> None:
        self._state = state
        lang = self.lang
        self.set_class(state.queue_paused, "queue-paused")
        self.set_class(state.frozen, "frozen")
        # The bar's parts, each with how long it holds on when the line is too short for all of them:
        # the queue state, the engine and LIVE/FROZEN never give way; the database gives way first.
        parts: list[tuple[Text, int]] = []
        if self.unreachable:
            parts.append((Text(f" ⚠ {t('bar.db_unreachable', lang)}  ", style="bold reverse"), KEEP))
        if state.queue_paused:
            parts.append((Text(f" ⏸ {t('bar.queue_paused', lang)} ", style="bold reverse"), KEEP))
            if state.queue_reason:
                parts.append((Text(f" {visible(state.queue_reason)} ", style="bold"), 3))
        else:
            parts.append((Text(f" ▶ {t('bar.queue_running', lang)} ", style="bold"), KEEP))
        waiting = state.attention
        if waiting is None:
            waiting = sum(state.counts.get(status.value, 0) for status in NEEDS_ATTENTION)
        attention = t("bar.attention", lang, count=waiting)
        # Always there, so its absence never reads as "nothing to do": loud when a job waits for a person.
        parts.append((Text(f" ! {attention} ", style="bold reverse" if waiting else "dim"), 5))
        # On a tray of their own: the bar's colour changes with the queue's state, the counts keep their
        # contrast whatever it is.
        tray = Style(color=STYLES[Status.READY].color, bgcolor=palette().tray)
        counts = Text(" ", style=tray)
        per_status = state.counts if state.shown is None else state.shown
        if state.shown is not None:  # the counts follow the filter: say so, so none is read as the total
            counts.append(f"{t('bar.shown', lang)} ", style=tray + Style(italic=True))
        for status in Status:
            count = per_status.get(status.value, 0)
            if count:
                counts.append(f"{SYMBOLS[status]}{count}", style=tray + STYLES[status])
                counts.append(" ", style=tray)
        if state.shown is not None and not any(state.shown.values()):
            counts.append(f"{t('bar.none_shown', lang)} ", style=tray + Style(italic=True))
        parts.append((counts, 4))
        parts.append((Text(f" {visible(state.user)}"), 2))
        parts.append((Text(f" · {visible(state.database)}"), 1))
        # With jobs due and no engine, "⚠ N due, no engine" says what matters of it: the engine's own words
        # may give way to it (with the frozen banner they overflowed 80 columns).
        parts.append((Text(f" · {visible(state.engine)}"), 6 if state.unserved else KEEP))
        if state.unserved:
            unserved = t("bar.unserved", lang, count=state.unserved)
            parts.append((Text(f" ⚠ {unserved} ", style="bold reverse"), KEEP))
        if state.readonly:
            parts.append((Text(f" · {t('bar.readonly', lang)}", style="bold"), KEEP))
        parts.append((Text("  "), 0))
        parts.append(
            (
                Text(
                    f" {t('bar.frozen', lang)} " if state.frozen else f" {t('bar.live', lang)} ",
                    style="bold reverse" if state.frozen else "bold",
                ),
                KEEP,
            )
        )
        width = self.size.width or self.app.size.width
        text = Text().join(_fit(parts, width))
        # Rebuilt at every change in the database: repaint only when it reads differently, and never
        # lay the screen out again for it (the bar is one line, whatever it says).
        drawn = (text.plain, tuple(text.spans))
        if drawn != self._drawn:
            self._drawn = drawn
            self.update(text, layout=False)


KEEP = 9  # a part that never gives way


def _fit(parts: list[tuple[Text, int]], width: int) -> list[Text]:
    """Shorten the parts that give way first (lowest rank first; the database keeps its end, the others
    their start) until the line fits in `width` cells; a part with no room left goes."""
    over = sum(part.cell_len for part, _ in parts) - width
    texts = [part for part, _ in parts]
    for rank in sorted({rank for _, rank in parts if rank < KEEP}):
        for index, (part, part_rank) in enumerate(parts):
            if over <= 0:
                return texts
            if part_rank != rank:
                continue
            room = part.cell_len - over
            if room < 4:  # too short to read: leave it out
                over -= part.cell_len
                texts[index] = Text()
            elif rank == 1:
                over -= part.cell_len - room
                texts[index] = Text(" · …" + part.plain[len(part.plain) - room + 4 :], style=part.style)
            else:
                over -= part.cell_len - room
                shortened = part.copy()
                shortened.truncate(room, overflow="ellipsis")
                texts[index] = shortened
    return texts
