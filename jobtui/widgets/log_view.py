"""The log viewer's text: a job's log as lines, each marked with the stream it came from, with a line cursor,
search matches and wrapping, drawn one screen line at a time (a log of 20,000 lines costs what shows)."""

from __future__ import annotations

from bisect import bisect_left
from typing import ClassVar

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from jobtui.engine.domain.logread import StreamSplit
from jobtui.widgets.log_reading import FULL_LOG_LINES, LogText

GUTTER = 2
STDERR_GUTTER = "\u258c "  # a bar by each stderr line: marked without colour too
ENGINE_PREFIX = "[jobtui "  # the engine's own lines (op started, ended): dimmed


class LogLines:
    """A log's bytes, piece by piece, as lines to show and whether each came from stderr; at most
    FULL_LOG_LINES of them (the oldest go first)."""

    def __init__(self, limit: int = FULL_LOG_LINES) -> None:
        self.lines: list[str] = []
        self.stderr: list[bool] = []
        self.dropped = 0  # lines gone from the front, past the limit
        self._limit = limit
        self._split = StreamSplit()
        self._text = LogText()
        self._open = False  # the last line is unfinished: what comes next continues it
        self._last_stderr = False  # the stream the last bytes came from

    def feed(self, data: bytes, final: bool = False) -> int:
        """Add `data` (`final`: the log ends with it); how many lines were dropped from the front to keep
        the limit."""
        for run, from_stderr in self._split.feed(data):
            self._add(self._text.feed(run), from_stderr)
            self._last_stderr = from_stderr
        if final:  # a joiner held back in case the next piece joined it
            self._add(self._text.feed(b"", final=True), self._last_stderr)
        over = len(self.lines) - self._limit
        if over <= 0:
            return 0
        del self.lines[:over]
        del self.stderr[:over]
        self.dropped += over
        return over

    def note(self, text: str) -> None:
        self._add(self._text.feed(b"", final=True), self._last_stderr)  # what was held ends here
        self.lines.append(text)
        self.stderr.append(False)
        self._split, self._text, self._open = StreamSplit(), LogText(), False

    def _add(self, text: str, from_stderr: bool) -> None:
        """Tabs become spaces (a terminal would move to its own tab stop, off the drawn line); a line with
        any stderr in it counts as stderr's."""
        if not text:
            return
        pieces = text.split("\n")
        for n, piece in enumerate(pieces):
            last = n == len(pieces) - 1
            if n == 0 and self._open:
                self.lines[-1] = (self.lines[-1] + piece).expandtabs()
                self.stderr[-1] = self.stderr[-1] or from_stderr
            elif not (last and not piece):
                self.lines.append(piece.expandtabs())
                self.stderr.append(from_stderr)
        self._open = bool(pieces[-1])


class LogView(ScrollView, can_focus=True):
    """Lines of a log with a cursor line; `wrap` folds long lines, `pattern` highlights matches."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--stderr",
        "log-view--stderr-mark",
        "log-view--engine",
        "log-view--cursor",
        "log-view--match",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", show=False),
        Binding("down,j", "move(1)", show=False),
        Binding("pageup,ctrl+b", "page(-1)", show=False),
        Binding("pagedown,ctrl+f,space", "page(1)", show=False),
        Binding("home,g", "first", show=False),
        Binding("end,G", "last", show=False),
    ]

    class Moved(Message):
        """The cursor moved; `up`: away from the end, by the operator (following stops)."""

        def __init__(self, up: bool) -> None:
            super().__init__()
            self.up = up

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.model = LogLines()
        self.cursor = 0
        self.wrap = False
        self.pattern = ""
        self._widest = 0
        self._rows: list[tuple[int, int, int]] = []  # wrapped: (line, first char, end char) per screen row

    # -- content -------------------------------------------------------------------------------------

    def feed(self, data: bytes, follow: bool, final: bool = False) -> None:
        lines = self.model.lines
        before = len(lines)
        dropped = self.model.feed(data, final)
        start = max(0, before - 1 - dropped)  # the last line may have grown
        self._widest = max([self._widest, *(cell_len(line) for line in lines[start:])])
        self.cursor = max(0, self.cursor - dropped)
        if follow:
            self.cursor = max(0, len(lines) - 1)
        self._relayout()
        if follow:  # once laid out at the new size
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
        self.refresh()

    def clear(self) -> None:
        self.model = LogLines()
        self.cursor = self._widest = 0
        self._relayout()
        self.refresh()

    def note(self, text: str) -> None:
        """A line of the viewer's own (output was skipped): on a line of its own, and what follows reads
        from a line start."""
        self.model.note(text)
        self._widest = max(self._widest, cell_len(text))
        self._relayout()
        self.refresh()

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap
        self._relayout()
        self._show_cursor()
        self.refresh()

    def set_pattern(self, pattern: str) -> None:
        self.pattern = pattern
        self.refresh()

    def find(self, forward: bool = True, include_cursor: bool = False) -> bool:
        """Move the cursor to the next line (or previous) that matches `pattern`, going round the end;
        whether one does. Upper case in the pattern makes it case-sensitive (as vim's smartcase)."""
        lines = self.model.lines
        if not self.pattern or not lines:
            return False
        step = 1 if forward else -1
        first = self.cursor if include_cursor else self.cursor + step
        for offset in range(len(lines)):
            index = (first + step * offset) % len(lines)
            if self._matches(lines[index]):
                self._move_to(index, up=index < self.cursor)
                return True
        return False

    def count_matches(self) -> int:
        return sum(1 for line in self.model.lines if self._matches(line))

    def current_line(self) -> str | None:
        lines = self.model.lines
        return lines[self.cursor] if 0 <= self.cursor < len(lines) else None

    def _matches(self, line: str) -> bool:
        if self.pattern.lower() == self.pattern:
            return self.pattern in line.lower()
        return self.pattern in line

    # -- the cursor ----------------------------------------------------------------------------------

    def action_move(self, by: int) -> None:
        self._move_to(self.cursor + by, up=by < 0)

    def action_page(self, by: int) -> None:
        self._move_to(self.cursor + by * max(1, self.scrollable_content_region.height - 1), up=by < 0)

    def action_first(self) -> None:
        self._move_to(0, up=True)

    def action_last(self) -> None:
        self._move_to(len(self.model.lines) - 1, up=False)

    def _move_to(self, index: int, up: bool) -> None:
        index = max(0, min(index, len(self.model.lines) - 1))
        if index == self.cursor:
            return
        self.cursor = index
        self._show_cursor()
        self.refresh()
        self.post_message(self.Moved(up))

    def _show_cursor(self) -> None:
        first, count = self._row_span(self.cursor)
        self.scroll_to_region(Region(int(self.scroll_x), first, 1, count), animate=False, immediate=True)

    def _row_span(self, index: int) -> tuple[int, int]:
        """The screen rows of line `index`: the first and how many."""
        if not self.wrap:
            return index, 1
        first = bisect_left(self._rows, (index,))
        end = bisect_left(self._rows, (index + 1,))
        return (first, end - first) if end > first else (index, 1)

    # -- layout and drawing --------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        lines = self.model.lines
        width = max(1, self.scrollable_content_region.width - GUTTER)
        if not self.wrap:
            self._rows = []
            self.virtual_size = Size(self._widest + GUTTER, len(lines))
            return
        self._rows = [row for index, line in enumerate(lines) for row in _folds(index, line, width)]
        self.virtual_size = Size(width + GUTTER, len(self._rows))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        lines = self.model.lines
        if self.wrap:
            if row >= len(self._rows):
                return Strip.blank(width, base)
            index, start, end = self._rows[row]
            first_row = start == 0
        else:
            if row >= len(lines):
                return Strip.blank(width, base)
            index, start, end, first_row = row, 0, len(lines[row]), True
        line = lines[index]
        text = Text(line[start:end], no_wrap=True, end="")
        from_stderr = self.model.stderr[index]
        if from_stderr:
            text.stylize(self.get_component_rich_style("log-view--stderr", partial=True))
        elif line.startswith(ENGINE_PREFIX):
            text.stylize(self.get_component_rich_style("log-view--engine", partial=True))
        if self.pattern:
            self._stylize_matches(text, line, start, end)
        if index == self.cursor:
            text.stylize(self.get_component_rich_style("log-view--cursor", partial=True))
        mark = STDERR_GUTTER if from_stderr and first_row else " " * GUTTER
        mark_style = base + self.get_component_rich_style("log-view--stderr-mark", partial=True)
        gutter = Segment(mark, mark_style if from_stderr else base)
        # The widget's own colours under every span's (a bare Text renders unstyled runs with no style).
        body = Strip(text.render(self.app.console), text.cell_len).apply_style(base)
        if not self.wrap:
            body = body.crop_extend(scroll_x, scroll_x + width - GUTTER, base)
        else:
            body = body.extend_cell_length(width - GUTTER, base)
        return Strip([gutter, *body], width)

    def _stylize_matches(self, text: Text, line: str, start: int, end: int) -> None:
        pattern = self.pattern
        haystack = line if pattern.lower() != pattern else line.lower()
        style = self.get_component_rich_style("log-view--match", partial=True)
        at = haystack.find(pattern)
        while at >= 0:
            low, high = max(at, start), min(at + len(pattern), end)
            if low < high:
                text.stylize(style, low - start, high - start)
            at = haystack.find(pattern, at + max(1, len(pattern)))


def _folds(index: int, line: str, width: int) -> list[tuple[int, int, int]]:
    """Line `index` cut into screen rows of `width` cells: (line, first char, end char) each."""
    if len(line) <= width and (line.isascii() or cell_len(line) <= width):
        return [(index, 0, len(line))]
    if line.isascii():
        return [(index, at, min(at + width, len(line))) for at in range(0, len(line), width)]
    rows = []
    start, used = 0, 0
    for at, char in enumerate(line):
        size = get_character_cell_size(char)
        if used + size > width and at > start:
            rows.append((index, start, at))
            start, used = at, 0
        used += size
    rows.append((index, start, len(line)))
    return rows


__all__ = ["LogLines", "LogView"]
