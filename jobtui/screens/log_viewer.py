"""The log viewer (`l`): a job's log that follows new output, with search, wrapping, stderr lines marked, the
selected line copied, and the whole log in the operator's $PAGER."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
from typing import ClassVar, Protocol

from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Static

from jobtui.engine.domain.logread import StreamSplit
from jobtui.engine.errors import ReadFailed, Refusal
from jobtui.i18n import t
from jobtui.screens.dialogs.base import DialogScreen
from jobtui.widgets.log_reading import FULL_LOG_BYTES, LogFollower, LogSource, LogText, bytes_text
from jobtui.widgets.log_view import LogView

# New output is looked for this often while the job runs.
FOLLOW_SECONDS = 0.5
READ_BYTES = 1024 * 1024


class LogAccess(LogSource, Protocol):
    """How the viewer reads logs: the service's scoped reads (any host's log, from the database)."""

    def has_ended(self, job_id: int) -> bool: ...


class SearchBox(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", show=False)]

    def action_close(self) -> None:
        self.value = ""
        self.display = False
        self.screen.query_one(LogView).focus()


class LogViewer(DialogScreen[None]):
    """A job's log, live. Follows new output while following is on (on when the job runs; moving up stops
    it, `F` toggles it)."""

    AUTO_FOCUS = "LogView"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "cancel", show=False),
        Binding("F", "follow", show=False),
        Binding("slash", "search", show=False),
        Binding("n", "next_match(True)", show=False),
        Binding("N", "next_match(False)", show=False),
        Binding("w", "wrap", show=False),
        Binding("o", "pager", show=False),
        Binding("Y", "copy_line", show=False),
    ]

    def __init__(self, title: str, job_id: int, logs: LogAccess, running: bool, lang: str = "en") -> None:
        super().__init__(lang)
        self.title_text = title
        self.job_id = job_id
        self.logs = logs
        self.following = running
        self._follower = LogFollower(FULL_LOG_BYTES)  # read by the reading worker only
        self._done = False  # the job ended and its last output was read
        self._reading = False
        self._said_failure = False  # the last read failed and the operator was told

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog large"):
            yield self._title(self.title_text)
            yield LogView(id="log-view")
            yield SearchBox(placeholder=t("logview.search", self.lang), id="log-search")
            yield Static(id="log-state", markup=False)
            yield self._hint(t("logview.hint", self.lang))

    def on_mount(self) -> None:
        if not self.query(SearchBox):
            return  # the app closed as the viewer opened, and took its widgets first
        self.query_one(SearchBox).display = False
        self.take_focus()
        self._show_state()
        self._look_for_more()
        self.set_interval(FOLLOW_SECONDS, self._look_for_more)

    # -- reading ---------------------------------------------------------------------------------------

    def _look_for_more(self) -> None:
        if not self._done and not self._reading:
            self._reading = True
            self._read_more()

    @work(thread=True, exclusive=True, group="log-viewer")
    def _read_more(self) -> None:
        """Read what the log gained (off the UI thread): its end first, then what is appended, jumping
        ahead when far behind. The job's end is asked first, so a read after it holds everything."""
        try:
            ended = self.logs.has_ended(self.job_id)
            data, skipped, reset = self._follower.read(self.job_id, self.logs)
        except ReadFailed as exc:  # the database busy or away for now: the next look may find it
            self.app.call_from_thread(self._failed, str(exc), False)
            return
        except Refusal as exc:
            self.app.call_from_thread(self._failed, str(exc), True)
            return
        self.app.call_from_thread(self._append, data, skipped, reset, ended)

    def _append(self, data: bytes, skipped: int, reset: bool, ended: bool) -> None:
        self._reading = False
        self._said_failure = False
        self._done = ended
        view = self.query_one(LogView)
        first = not view.model.lines
        if reset and not first:
            view.clear()
        if skipped:
            key = "logview.left_out" if first else "logview.skipped"
            view.note(t(key, self.lang, size=bytes_text(skipped), id=self.job_id))
        if data or ended:
            # The first read opens on the end of the log, following or not. Once the job ended, this is
            # the log's end: what the view held back in case more joined it is shown.
            view.feed(data, follow=self.following or first, final=ended)
        self._show_state()

    def _failed(self, why: str, final: bool) -> None:
        """A read failed: said once (not every half second); a refusal ends the reading for good."""
        self._reading = False
        self._done = final
        if final or not self._said_failure:
            self.notify(why, severity="error", markup=False)
        self._said_failure = True

    # -- keys --------------------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.query_one(LogView).action_last()
        self._show_state()

    def on_log_view_moved(self, event: LogView.Moved) -> None:
        if event.up and self.following:
            self.following = False
        self._show_state()

    def action_search(self) -> None:
        box = self.query_one(SearchBox)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        view = self.query_one(LogView)
        view.set_pattern(event.value)
        self.query_one(SearchBox).display = False
        view.focus()
        if event.value and not view.find(include_cursor=True):
            self._no_match(event.value)
        self._show_state()

    def action_next_match(self, forward: bool) -> None:
        view = self.query_one(LogView)
        if view.pattern and not view.find(forward):
            self._no_match(view.pattern)

    def _no_match(self, pattern: str) -> None:
        self.notify(t("logview.no_match", self.lang, pattern=pattern), severity="warning", markup=False)

    def action_wrap(self) -> None:
        view = self.query_one(LogView)
        view.set_wrap(not view.wrap)
        self._show_state()

    def action_copy_line(self) -> None:
        line = self.query_one(LogView).current_line()
        if line is None:
            return
        self.app.copy_to_clipboard(line)
        self.notify(t("logview.copied", self.lang, chars=len(line)), timeout=2)

    def action_pager(self) -> None:
        """The whole log, cleaned for the terminal, in $PAGER (less when unset), the dashboard suspended.
        The log is read into a file off the UI thread first (it may be large)."""
        self._write_whole_log()

    @work(thread=True, exclusive=True, group="log-pager")
    def _write_whole_log(self) -> None:
        try:
            path = self._whole_log()
        except (ReadFailed, Refusal, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._page, path)

    def _page(self, path: str) -> None:
        pager = shlex.split(os.environ.get("PAGER") or "less")
        try:
            with self.app.suspend():
                subprocess.run([*pager, path], check=False)
        except SuspendNotSupported:
            self.notify(t("logview.no_pager", self.lang, id=self.job_id), severity="warning")
        except OSError as exc:  # no such pager
            self.notify(str(exc), severity="error", markup=False)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _whole_log(self) -> str:
        """The whole log in a temporary file of the user's (0600), stream marks out, escapes cleaned."""
        split, text = StreamSplit(), LogText()
        fd, path = tempfile.mkstemp(prefix=f"jobtui-job-{self.job_id}-", suffix=".log")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                cursor = None
                while True:
                    piece = self.logs.log_read(self.job_id, cursor, READ_BYTES)
                    cursor = piece.cursor
                    if not piece.data:
                        break
                    out.write(text.feed(split.text(piece.data)))
                out.write(text.feed(split.text(b"", final=True), final=True))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return path

    def _show_state(self) -> None:
        view = self.query_one(LogView)
        lang = self.lang
        parts = [t("logview.following" if self.following else "logview.not_following", lang)]
        parts.append(t("logview.wrap_on" if view.wrap else "logview.wrap_off", lang))
        if view.pattern:
            parts.append(t("logview.matches", lang, count=view.count_matches(), pattern=view.pattern))
        total = len(view.model.lines)
        if total:
            parts.append(t("logview.line", lang, line=view.cursor + 1, total=total))
        if self._done:
            parts.append(t("logview.ended", lang))
        self.query_one("#log-state", Static).update(" · ".join(parts))


__all__ = ["LogAccess", "LogViewer"]
