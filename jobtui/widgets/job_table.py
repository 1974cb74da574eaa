"""The job table: a Line API widget that holds only the rows on screen (plus a margin).

The screen feeds it windows fetched off the UI thread; the cursor is pinned to a job id, so rows may
move, appear or vanish around it while an operator reads. Moving the cursor never waits on the database:
a row not yet fetched draws as a placeholder until its window arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import ClassVar
from zoneinfo import ZoneInfo

import pendulum
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from jobtui.engine.domain.states import LABELS, Status
from jobtui.engine.domain.text import visible
from jobtui.engine.domain.timeparse import format_duration, local_zone_name
from jobtui.engine.read.listing import JobRow, JobSort
from jobtui.i18n import t, type_text
from jobtui.widgets.status_style import generation, progress_text, status_text
from jobtui.widgets.virtual_rows import VirtualRows


@lru_cache(maxsize=8)
def _zone(tz: str) -> tzinfo | None:
    try:
        return ZoneInfo(tz)
    except (ValueError, KeyError):  # not an IANA name (a fixed offset from the host)
        return None


def _date(when: datetime | None, tz: str) -> str:
    if when is None:
        return "-"
    zone = _zone(tz)
    if zone is None:
        return pendulum.instance(when).in_timezone(tz).format("MM-DD HH:mm")
    return when.astimezone(zone).strftime("%m-%d %H:%M")


def _seconds(since: datetime | None, until: datetime) -> float | None:
    return None if since is None else max(0.0, (until - since).total_seconds())


# The two largest units: 999d23h… fits the column, where 89d23h1m4s… was cut in the middle of a number.
ELAPSED_UNITS = 2


def elapsed_text(row: JobRow, now: datetime) -> str:
    """How long the job ran ("4m12s"), or has been running so far ("12s…"); empty if it never started or
    is queued (READY: its INIT may have run, but it waits for its RUN date or a retry: Waiting says so)."""
    if row.status == Status.READY:
        return ""
    if row.ended_at is not None:
        took = _seconds(row.started_at, row.ended_at)
        return "" if took is None else format_duration(took, ELAPSED_UNITS)
    going = _seconds(row.started_at, now)
    return "" if going is None else f"{format_duration(going, ELAPSED_UNITS)}\u2026"


def waits_for_chain(row: JobRow) -> bool:
    """A queued job of an envelope that its chain has not released: it starts once the job before it ends
    FINISHED, not at any moment (the engine claims only a READY job with a due date). Its status stays
    READY; Waiting says what it waits for instead of counting as if no worker came."""
    return (
        row.status == Status.READY
        and row.envelope_id is not None
        and row.due_at is None
        and row.started_at is None
    )


def ready_since(row: JobRow) -> datetime | None:
    """When a queued job became ready to run: it entered READY, its RUN date came, or the next attempt of
    a failed task it waits for came, the latest (None: not ready, or held by its envelope's chain)."""
    if row.status != Status.READY or waits_for_chain(row):
        return None
    dates = [when for when in (row.scheduled_at, row.status_since, row.due_at) if when is not None]
    return max(dates) if dates else None


def wait_text(row: JobRow, now: datetime, lang: str = "en") -> str:
    """How long a queued job has been ready and not started; empty when it is not (yet) ready; "chain"
    for one its envelope's chain holds (the pane's reason names the job it waits for)."""
    if waits_for_chain(row):
        return t("table.wait_chain", lang)
    since = ready_since(row)
    if since is None or since > now:
        return ""
    return format_duration(_seconds(since, now) or 0.0)


def is_ticking(row: JobRow) -> bool:
    """Whether the row's time columns move with the clock."""
    return row.ended_at is None and (row.started_at is not None or row.status == Status.READY)


@dataclass(frozen=True)
class Column:
    key: str  # also the sort key (listing.SORTABLE)
    width: int
    cell: Callable[[JobRow, str, str, datetime], Text | str]  # (row, lang, tz, now) → cell


# Every status whole, in every language, behind its symbol ("◆ Pendiente de aprobación" was cut).
STATUS_WIDTH = 2 + max(len(label) for labels in LABELS.values() for label in labels.values())

COLUMNS: tuple[Column, ...] = (
    Column("id", 7, lambda r, _l, _t, _n: str(r.id)),
    Column("name", 24, lambda r, _l, _t, _n: r.name),
    Column("type", 9, lambda r, lang, _t, _n: type_text(r.type, lang)),
    Column("project", 11, lambda r, _l, _t, _n: r.project),
    Column("status", STATUS_WIDTH, lambda r, lang, _t, _n: status_text(r.status, lang)),
    Column("step", 5, lambda r, _l, _t, _n: r.step),
    Column("progress", 15, lambda r, _l, _t, _n: progress_text(r.progress)),
    Column("elapsed", 10, lambda r, _l, _t, now: elapsed_text(r, now)),
    Column("wait", 9, lambda r, lang, _t, now: wait_text(r, now, lang)),
    Column("natures", 12, lambda r, _l, _t, _n: ",".join(r.natures)),
    Column("scheduled", 12, lambda r, _l, tz, _n: _date(r.scheduled_at, tz)),
    Column("max_start", 12, lambda r, _l, tz, _n: _date(r.max_start_at, tz)),
    Column("start", 12, lambda r, _l, tz, _n: _date(r.started_at, tz)),
    Column("end", 12, lambda r, _l, tz, _n: _date(r.ended_at, tz)),
    Column("owner", 12, lambda r, _l, _t, _n: r.owner),  # "Propietario" whole
    Column("envelope", 9, lambda r, _l, _t, _n: "" if r.envelope_id is None else str(r.envelope_id)),
)
GAP = 1
TOTAL_WIDTH = sum(c.width + GAP for c in COLUMNS)
# Where a job stands (Status, Step, Progress) must show without scrolling sideways (the manual: "Always
# check the Step column"): at 80 columns the table showed ID, Job, Type, Project and Status, and no Step.
# These go behind Progress, still a scroll away, when the screen cannot hold them before it.
AFTER_PROGRESS_WHEN_SHORT = ("type", "project")
NAME_MIN = 12


def arrange(width: int) -> tuple[Column, ...]:
    """The columns of a table whose screen is `width` cells wide, in order, with their widths.

    Type and Project go behind Progress when the screen would not hold the columns through Progress with
    them, and the Job column narrows (to NAME_MIN at the least) until it holds the rest. The Job column
    then takes the cells left after the last column the screen holds whole, so that the next one starts
    past the screen's edge: a column cut by the edge showed a date as "12-07 1", which reads as a date.
    """
    columns = list(COLUMNS)
    if _span(_through_progress(columns)) > width:
        columns = [c for c in columns if c.key not in AFTER_PROGRESS_WHEN_SHORT]
        at = len(_through_progress(columns))
        columns[at:at] = [c for c in COLUMNS if c.key in AFTER_PROGRESS_WHEN_SHORT]
    name = next(n for n, c in enumerate(columns) if c.key == "name")
    short = _span(_through_progress(columns)) - width
    if short > 0:
        columns[name] = replace(columns[name], width=max(NAME_MIN, columns[name].width - short))
    edge = 0
    for column in columns:
        if edge + column.width > width:
            if edge < width:  # cut by the screen's edge: it starts past it instead
                columns[name] = replace(columns[name], width=columns[name].width + width - edge)
            break
        edge += column.width + GAP
    return tuple(columns)


def _through_progress(columns: list[Column]) -> list[Column]:
    return columns[: next(n for n, c in enumerate(columns) if c.key == "progress") + 1]


def _span(columns: list[Column]) -> int:
    return sum(c.width + GAP for c in columns) - GAP


class JobTable(VirtualRows, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
    ]

    class CursorMoved(Message):
        """The cursor is on another job (or, with job_id None, on a row not fetched yet); `moves`: the
        table's count of moves with this one."""

        def __init__(self, job_id: int | None, index: int, moves: int) -> None:
            super().__init__()
            self.job_id = job_id
            self.index = index
            self.moves = moves

    class WindowNeeded(Message):
        """Rows around `start` are on screen but not fetched: the screen should fetch that window."""

        def __init__(self, start: int, size: int) -> None:
            super().__init__()
            self.start = start
            self.size = size

    class HeaderClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(
        self, labels: dict[str, str], lang: str = "en", tz: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.labels = labels
        self.lang = lang
        self.tz = tz or local_zone_name()
        self.total = 0
        self.cursor = 0
        # Moves by the operator so far, counted as the keys are handled (CursorMoved messages reach the
        # screen later): a read begun before the latest move must not put the cursor back.
        self.moves = 0
        self.order = JobSort()
        self._rows: dict[int, JobRow] = {}
        self._requested: tuple[int, int] | None = None
        self._line_cache: dict[tuple[int, int], Strip] = {}
        self.now: datetime = pendulum.now("UTC")  # what Elapsed and Waiting count to (`tick`)
        self._palette_generation = generation()
        self.columns = COLUMNS  # as `arrange` lays them out for the screen's width, once it is known
        self.total_width = TOTAL_WIDTH

    # -- data in ------------------------------------------------------------------------------------

    def set_data(self, total: int, start: int, rows: Sequence[JobRow], cursor_index: int | None) -> None:
        """Install a fetched window. Only lines whose job changed (by feed seq) are repainted."""
        old = self._rows
        self._rows = {start + n: row for n, row in enumerate(rows)}
        self._requested = None
        resized = total != self.total
        self.total = total
        self.virtual_size = Size(self.total_width, total + 1)
        if cursor_index is not None:
            self._move_cursor_to(cursor_index, announce=False)
        elif self.cursor >= total:
            self._move_cursor_to(max(0, total - 1), announce=True)
        if resized:
            self._line_cache.clear()
            self.refresh()
        else:
            top = int(self.scroll_y)
            for index in range(top, top + self.rows_visible):
                before, after = old.get(index), self._rows.get(index)
                if before is None or after is None or before.id != after.id or before.seq != after.seq:
                    self._refresh_screen_line(index - top + 1)
            self._refresh_screen_line(0)
        # The window was fetched for where the table stood when its fetch began; the cursor may have
        # moved on past it since.
        self._ask_for_missing_rows()

    def tick(self, now: datetime) -> None:
        """Move the time columns on to `now`: only the rows on screen whose times run are drawn again."""
        self.now = now
        top = int(self.scroll_y)
        for index in range(top, min(self.total, top + self.rows_visible)):
            row = self._rows.get(index)
            if row is not None and is_ticking(row):
                for selected in (0, 1):
                    self._line_cache.pop((row.id, row.seq * 2 + selected), None)
                self._refresh_screen_line(index - top + 1)

    def selected_job_id(self) -> int | None:
        row = self._rows.get(self.cursor)
        return row.id if row else None

    def row_at(self, index: int) -> JobRow | None:
        return self._rows.get(index)

    def set_order(self, order: JobSort, to_top: bool = False) -> None:
        """Sort by `order`; with `to_top`, the cursor goes to the first row (the new order's rows follow)."""
        self.order = order
        if to_top:
            self._place_cursor(0)
            self.disown_reads_in_flight()
            self.scroll_to(y=0, animate=False, immediate=True, force=True)
        self._show_column(order.column)
        self._line_cache.clear()
        self.refresh()

    def _show_column(self, key: str) -> None:
        """Scroll sideways, if need be, until the column `key` (and its sort arrow) is on screen: a sort by
        a column off to the side would reorder the rows with no visible sign of why."""
        left = 0
        for column in self.columns:
            if column.key == key:
                break
            left += column.width + GAP
        else:
            return
        right = left + column.width
        shown = int(self.scroll_x)
        width = self.scrollable_content_region.width or self.size.width
        if left < shown:
            self.scroll_to(x=left, animate=False, immediate=True, force=True)
        elif width and right > shown + width:
            self.scroll_to(x=right - width, animate=False, immediate=True, force=True)

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        columns = arrange(self.scrollable_content_region.width or self.size.width)
        if columns != self.columns:
            self.columns = columns
            self.total_width = sum(c.width + GAP for c in columns)
            self.virtual_size = Size(self.total_width, self.total + 1)
            self._line_cache.clear()
            self.refresh()

    # -- cursor -------------------------------------------------------------------------------------

    def _move_cursor_to(self, index: int, announce: bool) -> None:
        previous = self._place_cursor(index)
        if announce and previous is not None and previous != index:
            self._cursor_moved(self.cursor)

    def disown_reads_in_flight(self) -> None:
        """The screen places the cursor itself (a new order, a jump to a job): a read begun before now
        would put it back on the job it was begun for, and that job's detail in the pane."""
        self.moves += 1

    def _cursor_moved(self, index: int) -> None:
        self.moves += 1
        self.post_message(self.CursorMoved(self.selected_job_id(), index, self.moves))

    def _ask_for_missing_rows(self) -> None:
        top = int(self.scroll_y)
        last = min(self.total, top + self.rows_visible)
        if all(i in self._rows for i in range(top, last)):
            return
        wanted = self.wanted_window()
        if self._requested != wanted:
            self._requested = wanted
            self.post_message(self.WindowNeeded(*wanted))

    def on_click(self, event: events.Click) -> None:
        x = event.x + int(self.scroll_x)
        if event.y == 0:
            edge = 0
            for column in self.columns:
                edge += column.width + GAP
                if x < edge:
                    self.post_message(self.HeaderClicked(column.key))
                    return
            return
        self._move_cursor_to(int(self.scroll_y) + event.y - 1, announce=True)

    # -- drawing ------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x = int(self.scroll_x)
        width = self.size.width
        # Computed from every ancestor's background at each read: once a line.
        blank = self.rich_style
        if y == 0:
            strip = self._header()
        else:
            index = int(self.scroll_y) + y - 1
            if index >= self.total:
                return Strip.blank(width, blank)
            strip = self._row_strip(index)
        # Up to the last column the screen holds whole: one cut by its right edge (the focus border or a
        # scrollbar took a cell since `arrange`, or the table is scrolled sideways) is left blank.
        whole = self._whole_columns_end(scroll_x, self.scrollable_content_region.width or width)
        return strip.crop_extend(scroll_x, scroll_x + whole, blank).extend_cell_length(width, blank)

    def _whole_columns_end(self, scroll_x: int, width: int) -> int:
        """How many cells from the screen's left edge the columns it holds whole reach."""
        edge = 0
        for column in self.columns:
            end = edge + column.width
            if end > scroll_x + width:
                return max(0, edge - scroll_x)
            edge = end + GAP
        return width

    def _header(self) -> Strip:
        labels: list[str] = []
        for column in self.columns:
            label = self.labels.get(column.key, column.key)
            if column.key == self.order.column:
                # The label gives way to the arrow on a narrow column: which column sorts must always show.
                arrow = " ▼" if self.order.descending else " ▲"
                label = label[: max(0, column.width - len(arrow))] + arrow
            labels.append(label[: column.width].ljust(column.width + GAP))
        # Plain, as the header has always looked; never style None (see _strip).
        return Strip([Segment("".join(labels), Style.null())], self.total_width)

    def _strip(self, text: Text) -> Strip:
        """`text` as a line; Rich leaves unstyled runs with style None, which Textual's line filters
        (NO_COLOR's monochrome) cannot take, so every segment gets a style."""
        null = Style.null()
        segments = [Segment(s.text, s.style or null, s.control) for s in text.render(self.app.console)]
        return Strip(segments, self.total_width)

    def _row_strip(self, index: int) -> Strip:
        row = self._rows.get(index)
        selected = index == self.cursor
        if row is None:
            style = Style(dim=True, reverse=selected)
            return Strip([Segment("…".ljust(self.total_width), style)], self.total_width)
        if self._palette_generation != generation():  # the theme switched palettes
            self._palette_generation = generation()
            self._line_cache.clear()
        key = (row.id, row.seq * 2 + int(selected))
        cached = self._line_cache.get(key)
        if cached is not None:
            return cached
        text = Text()
        for column in self.columns:
            cell = column.cell(row, self.lang, self.tz, self.now)
            # Names, projects, owners come from definitions: plain text, control characters shown.
            cell_text = cell if isinstance(cell, Text) else Text(visible(cell))
            cell_text.truncate(column.width, overflow="ellipsis")
            cell_text.pad_right(column.width - cell_text.cell_len + GAP)
            text.append_text(cell_text)
        if selected:
            text.stylize(Style(reverse=True, bold=True))
        strip = self._strip(text)
        if len(self._line_cache) > 4000:
            self._line_cache.clear()
        self._line_cache[key] = strip
        return strip
