"""What the job table and the tasks table share: a header line over rows of which the widget holds only a
window, the cursor among all of them, and the screen lines it repaints.

Subclasses say which rows they hold (`_ask_for_missing_rows`) and what a cursor move tells the screen
(`_cursor_moved`).
"""

from __future__ import annotations

from textual import events
from textual.geometry import Region
from textual.scroll_view import ScrollView


class VirtualRows(ScrollView):
    total: int
    cursor: int

    @property
    def rows_visible(self) -> int:
        # Not `size`: it includes the horizontal scrollbar's line (the tables are wider than most terminals),
        # and a cursor scrolled onto that line is under the bar, out of sight.
        return max(1, self.scrollable_content_region.height - 1)  # the first line is the header

    def wanted_window(self) -> tuple[int, int]:
        """The window worth fetching: the screen plus a page above and below."""
        top = max(0, int(self.scroll_y) - self.rows_visible)
        return top, self.rows_visible * 3

    # -- the cursor ---------------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self._cursor_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._cursor_to(self.cursor + direction * self.rows_visible)

    def action_jump(self, where: int) -> None:
        self._cursor_to(0 if where == 0 else self.total - 1)

    def _cursor_to(self, index: int) -> None:
        """A move the operator made (keys, a click): the subclass tells the screen."""
        previous = self._place_cursor(index)
        if previous is not None and previous != self.cursor:
            self._cursor_moved(self.cursor)

    def _place_cursor(self, index: int) -> int | None:
        """Put the cursor on row `index` (clamped), scroll it into view, repaint both rows and ask for
        rows not fetched; returns where it was (None: no rows)."""
        if self.total == 0:
            self.cursor = 0
            return None
        index = max(0, min(self.total - 1, index))
        previous = self.cursor
        self.cursor = index
        top = int(self.scroll_y)
        # force: right after new data the scrollbars are not laid out yet and Textual would refuse to scroll,
        # leaving the cursor below the screen.
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True, force=True)
        elif index >= top + self.rows_visible:
            self.scroll_to(y=index - self.rows_visible + 1, animate=False, immediate=True, force=True)
        self._refresh_row(previous)
        self._refresh_row(index)
        self._ask_for_missing_rows()
        return previous

    def _cursor_moved(self, index: int) -> None:
        raise NotImplementedError

    def _ask_for_missing_rows(self) -> None:
        raise NotImplementedError

    # -- repainting ---------------------------------------------------------------------------------

    def _refresh_row(self, index: int) -> None:
        line = index - int(self.scroll_y) + 1
        if 1 <= line <= self.rows_visible:
            self._refresh_screen_line(line)

    def _refresh_screen_line(self, line: int) -> None:
        """Repaint one line of the widget as it is on screen (0 is the header). ScrollView.refresh_line
        takes virtual lines; these tables draw only what is on screen, so their lines are screen lines."""
        self.refresh(Region(0, line, max(self.virtual_size.width, self.size.width), 1))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._ask_for_missing_rows()

    def on_resize(self, _event: events.Resize) -> None:
        self._ask_for_missing_rows()
