"""The line above the job table that says what it shows: the filter in force with "N of M jobs", what to
do when nothing matches, and, on a fresh database, how to get jobs at all. Hidden when there is nothing to
say."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from jobtui.engine.domain.states import status_label
from jobtui.engine.domain.text import visible
from jobtui.engine.read.listing import JobFilter
from jobtui.i18n import t


@dataclass(frozen=True)
class Shown:
    """What the table shows: its filter, whether it is the needs-attention view, how many rows match and
    how many jobs there are in all (system jobs counted when they are shown)."""

    filter: JobFilter
    attention: bool
    matching: int
    every: int


class FilterLine(Static):
    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.said: str = ""  # the plain text shown ("" while hidden)

    def show(self, shown: Shown) -> None:
        text = describe(shown, self.lang)
        self.set_class(not text.plain, "hidden")
        self.set_class(shown.matching == 0, "nothing-shown")
        if text.plain != self.said:
            self.said = text.plain
            self.update(text)


def describe(shown: Shown, lang: str) -> Text:
    flt = shown.filter
    if shown.every == 0 and not flt.text.strip() and not flt.statuses and not shown.attention:
        return Text(t("filter.no_jobs_yet", lang), style="bold")
    parts: list[str] = []
    if shown.attention:
        parts.append(t("filter.attention", lang))
    elif flt.statuses:
        names = ", ".join(status_label(status, lang) for status in sorted(flt.statuses))
        parts.append(t("filter.statuses", lang, statuses=names))
    if flt.text.strip():
        parts.append(t("filter.text", lang, text=visible(flt.text.strip())))
    if flt.show_system:
        parts.append(t("filter.system", lang))
    if not parts:
        return Text("")
    line = Text(t("filter.count", lang, shown=shown.matching, every=shown.every), style="bold")
    line.append(" · " + " · ".join(parts))
    if shown.matching == 0:
        line.append("  " + _nothing_matches(shown, lang), style="bold reverse")
    return line


def _nothing_matches(shown: Shown, lang: str) -> str:
    """What to press for more, for what hides the jobs: it said "Esc clears the text" with no text typed."""
    flt = shown.filter
    hints = []
    if flt.text.strip():
        hints.append(t("filter.hint_text", lang))
    if shown.attention:
        hints.append(t("filter.hint_attention", lang))
    elif flt.statuses:
        hints.append(t("filter.hint_statuses", lang))
    said = t("filter.nothing_matches", lang)
    return f"{said}: {'; '.join(hints)}" if hints else said
