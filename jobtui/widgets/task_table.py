"""The detail pane's tasks table: a Line API widget over all of a job's tasks that holds only a window
of them, as the job table does with jobs.

It knows how many tasks the job has (its scrollbar covers them all) and the rows of the window it was
given; when the cursor or the scroll reaches rows it does not hold, it asks for them (`WindowNeeded`) and
draws them as placeholders until the screen installs the window it read off the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from jobtui.widgets.virtual_rows import VirtualRows

PADDING = 1  # blank columns on each side of a cell, as a DataTable draws them
PLACEHOLDER = "…"


class TaskTable(VirtualRows, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "task-table--header",
        "task-table--cursor",
        "task-table--even-row",
        "task-table--placeholder",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
    ]

    class TaskHighlighted(Message):
        """The cursor is on another task (its row may not be fetched yet: `task` is then None)."""

        def __init__(self, index: int, task: dict[str, Any] | None) -> None:
            super().__init__()
            self.index = index
            self.task = task

    class WindowNeeded(Message):
        """Tasks from `start` on are on screen but not fetched: the screen should read that window."""

        def __init__(self, job_id: int, start: int, size: int) -> None:
            super().__init__()
            self.job_id = job_id
            self.start = start
            self.size = size

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id: int | None = None
        self.total = 0
        self.cursor = 0
        self._labels: tuple[str, ...] = ()
        self._widths: list[int] = []
        self._cells: dict[int, tuple[Text, ...]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}
        self._requested: tuple[int, int] | None = None

    # -- data in ------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self.total

    def clear(self, labels: Sequence[str]) -> None:
        """No tasks: the header alone, the cursor back on top."""
        self.show_window(None, labels, 0, 0, [], [])

    def show_window(
        self,
        job_id: int | None,
        labels: Sequence[str],
        total: int,
        start: int,
        tasks: Sequence[dict[str, Any]],
        cells: Sequence[Sequence[Text]],
    ) -> None:
        """Install a window of `job_id`'s tasks (`cells`: each task's row as drawn). Another job than the
        one shown starts at the top, its columns as wide as its own cells need."""
        new_job = job_id != self.job_id or tuple(labels) != self._labels
        if new_job:
            self.job_id = job_id
            self._labels = tuple(labels)
            self._widths = [cell_len(label) for label in labels]
            self.cursor = 0
            self.scroll_to(0, 0, animate=False, immediate=True, force=True)
        rows = {start + n: tuple(row) for n, row in enumerate(cells)}
        changed = new_job or total != self.total or _keys(rows) != _keys(self._cells)
        self._cells = rows
        self._tasks = {start + n: task for n, task in enumerate(tasks)}
        self._requested = None
        self.total = total
        if self._fit_widths(rows) or new_job or self.virtual_size.height != total + 1:
            self.virtual_size = Size(self.table_width, total + 1)
            changed = True
        if self.cursor >= total:
            self.cursor = max(0, total - 1)
        if changed:
            self.refresh()
        self._ask_for_missing_rows()

    def redraw(self, cells_of: Callable[[dict[str, Any]], Sequence[Text]]) -> None:
        """Draw the held tasks again as `cells_of` says: their relative times move with the clock
        between two reads ("3s ago", a retry's countdown); painted again only when a cell changed."""
        rows = {index: tuple(cells_of(task)) for index, task in self._tasks.items()}
        if _keys(rows) == _keys(self._cells):
            return
        self._cells = rows
        if self._fit_widths(rows):
            self.virtual_size = Size(self.table_width, self.total + 1)
        self.refresh()

    def _fit_widths(self, rows: dict[int, tuple[Text, ...]]) -> bool:
        """Widen the columns to what `rows` need (never narrower while the same job is shown, so the
        columns hold still); whether any grew."""
        widths = list(self._widths)
        for row in rows.values():
            for index, cell in enumerate(row[: len(widths)]):
                widths[index] = max(widths[index], cell.cell_len)
        grew = widths != self._widths
        self._widths = widths
        return grew

    @property
    def table_width(self) -> int:
        return sum(width + 2 * PADDING for width in self._widths)

    def task_at(self, index: int) -> dict[str, Any] | None:
        return self._tasks.get(index)

    def selected_task(self) -> dict[str, Any] | None:
        return self._tasks.get(self.cursor)

    def get_row_at(self, index: int) -> list[Text]:
        """The cells of a fetched row (as DataTable.get_row_at); [] for a row not fetched."""
        return list(self._cells.get(index, ()))

    # -- cursor -------------------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        self._cursor_to(index)

    def _cursor_moved(self, index: int) -> None:
        self.post_message(self.TaskHighlighted(index, self.selected_task()))

    def _ask_for_missing_rows(self) -> None:
        if self.job_id is None or self.total == 0:
            return
        # The rows on screen; the cursor's row is one of them whenever a key moved it.
        top = int(self.scroll_y)
        last = min(self.total, top + self.rows_visible)
        if all(i in self._cells for i in range(top, last)):
            return
        wanted = self.wanted_window()
        if self._requested != wanted:
            self._requested = wanted
            self.post_message(self.WindowNeeded(self.job_id, *wanted))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(int(self.scroll_y) + event.y - 1)

    def on_focus(self, _event: events.Focus) -> None:
        self.refresh()  # the cursor's colours follow the focus (see monitor.tcss)

    def on_blur(self, _event: events.Blur) -> None:
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x = int(self.scroll_x)
        width = self.size.width
        if y == 0:
            strip = self._line(
                [Text(label) for label in self._labels], self.get_component_rich_style("task-table--header")
            )
        else:
            index = int(self.scroll_y) + y - 1
            if index >= self.total:
                return Strip.blank(width, self.rich_style)
            strip = self._row_strip(index)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _row_strip(self, index: int) -> Strip:
        base = self.rich_style
        if index % 2 == 0:  # the first row is "even", as in a DataTable
            base += self.get_component_rich_style("task-table--even-row")
        cells = self._cells.get(index)
        if cells is None:
            base += self.get_component_rich_style("task-table--placeholder")
            cells = (Text(PLACEHOLDER),)
        cursor = self.get_component_rich_style("task-table--cursor") if index == self.cursor else None
        return self._line(list(cells), base, cursor)

    def _line(self, cells: Sequence[Text], base: Style, over: Style | None = None) -> Strip:
        """One line of cells, padded to their columns and then to the widget's width, in `base` (and
        `over` on top, the cursor's colours over the cells' own)."""
        line = Text(no_wrap=True, end="")
        for index, width in enumerate(self._widths):
            cell = cells[index].copy() if index < len(cells) else Text()
            cell.truncate(width, overflow="ellipsis")
            line.append(" " * PADDING)
            line.append_text(cell)
            line.append(" " * (width - cell.cell_len + PADDING))
        width = max(self.table_width, self.size.width)
        line.pad_right(width - line.cell_len)
        line.stylize_before(base)
        if over is not None:
            line.stylize(over)
        # Rich leaves unstyled runs with style None, which Textual's line filters (NO_COLOR's monochrome)
        # cannot take: every segment gets a style.
        null = Style.null()
        segments = [Segment(s.text, s.style or null, s.control) for s in line.render(self.app.console)]
        return Strip(segments, width)


def _keys(rows: dict[int, tuple[Text, ...]]) -> dict[int, tuple[Any, ...]]:
    return {
        index: tuple((cell.plain, tuple(cell.spans), str(cell.style)) for cell in row)
        for index, row in rows.items()
    }
