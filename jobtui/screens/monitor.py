"""The monitor: the live job table, the detail pane, the envelope tree, and every action on a key.

Reads happen on a worker thread that wakes on the change feed (`Poller`, in monitor_poller.py); the UI
thread only installs results, here. The operator's actions are `MonitorActions` (monitor_actions.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import ContentSwitcher, Input, Tree

from jobtui.engine.domain.alerting import AlertSettings, Entered
from jobtui.engine.domain.ids import looks_like_id, typed_id
from jobtui.engine.domain.states import NEEDS_ATTENTION, Status, status_label
from jobtui.engine.domain.text import visible
from jobtui.engine.errors import CorruptRow, ReadFailed
from jobtui.engine.read.engines import engines, throughput, waiting
from jobtui.engine.read.listing import SORTABLE, JobFilter, JobSort, first_order
from jobtui.engine.service.commands import (
    BY_ACTION,
    BY_ID,
    COMMANDS,
    FIXED_KEYS,
    Acts,
    Command,
    enabled_for,
    envelope_commands,
    job_commands,
    refusal_by_permission,
    refusal_for,
)
from jobtui.i18n import envelope_status_text, refusal_text, t
from jobtui.screens.alerts import Alerter
from jobtui.screens.bindings import command_bindings, footer_order
from jobtui.screens.monitor_actions import MonitorActions
from jobtui.screens.monitor_poller import Fetched, Poller, Query, TreeFetched, ViewState
from jobtui.screens.palette import PaletteCommand
from jobtui.widgets.detail import DetailPane, JobDetail
from jobtui.widgets.envelope_tree import EnvelopeTree
from jobtui.widgets.filterline import FilterLine, Shown
from jobtui.widgets.job_table import COLUMNS, JobTable
from jobtui.widgets.keybar import KeyBar
from jobtui.widgets.statusbar import BarState, StatusBar
from jobtui.widgets.task_table import TaskTable
from jobtui.widgets.workers_view import WorkersData, WorkersView

# SQLAlchemy and the models are imported when the Store opens (after the first paint, see backend.py);
# this module only names them for type checking.
if TYPE_CHECKING:
    from jobtui.engine.service.actions import RefusedOn
    from jobtui.engine.service.backend import Backend
    from jobtui.engine.service.reads import TaskWindow
    from jobtui.screens.dialogs import EnvelopeFacts

# Keys that open an input (the filter box, or a dialog with one). Their bindings are priority bindings: the
# app runs them as the key arrives, before it hands the next key to anyone, and they return once the input
# has the focus, so keys typed right after them (a paste, a burst over SSH) go into it, never to the job
# table's keys. While an input has the focus they step aside (SkipAction) and the key is typed.
INPUT_KEYS = tuple(command.id for command in COMMANDS if command.opens_input)
# A refusal recorded again for a key held down only after this long (seconds).
REFUSAL_RECORDED_S = 5.0


class MonitorScreen(MonitorActions):
    CSS_PATH = "../styles/monitor.tcss"

    class FirstPaint(Message):
        """The first rows are on screen: work kept out of their way (the embedded engine) may start."""

    BINDINGS: ClassVar[list[BindingType]] = command_bindings()
    # Below 120 columns the detail pane drops its log column (`l` opens the log, `Z` zooms the pane): its
    # info and tasks stay wide enough to read at 80 columns.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (Textual types it so)

    def __init__(
        self,
        backend: Backend,
        engine_label: str,
        readonly: bool = False,
        lang: str = "en",
        tz: str | None = None,
        db_label: str | None = None,
        alerts: AlertSettings | None = None,
        engine_serving: bool = True,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.alerter = Alerter(alerts or AlertSettings(), lang)
        self.listing = backend.listing
        self.engine_label = engine_label
        # Whether an engine runs the jobs (none: the header counts those left waiting); known before the
        # first fetch, which may start before the screen is mounted.
        self.engine_serving = engine_serving
        self.db_label = db_label or backend.label
        self.readonly = readonly
        self.lang = lang
        from jobtui.engine.domain.timeparse import local_zone_name

        self.tz = tz or local_zone_name()
        self.filter = JobFilter()
        self.order = JobSort()
        self.frozen = False
        self.allowed: dict[str, str | None] = {}
        self.detail_job_id: int | None = None
        # The table's count of moves (`JobTable.moves`, counted as the keys arrive) as of the latest move
        # this screen has taken in: a CursorMoved handled, or the cursor placed by the screen itself (a new
        # order, a jump); behind the table's while messages queue. A fetch that began before the latest
        # move must not pull the cursor back: a held key would keep losing ground.
        self._moves = 0
        self._rest_lock = asyncio.Lock()
        self._rest_built = False
        # The refresh loop and all the state it keeps: see Poller for which thread owns what.
        self._poller = Poller(
            backend, self, self.app.call_from_thread, readonly=readonly, lang=lang, db_label=self.db_label
        )
        # How many jobs there are in all (the last counts the header showed): the filter line's "of M".
        self._every_job: int | None = None
        # The status filter and order the needs-attention view (`!`) replaced, given back when it closes.
        self._before_attention: tuple[frozenset[str], JobSort, bool] | None = None
        # When the first data reached the screen (perf_counter): what the paint benchmark measures.
        self.first_paint_at: float | None = None
        # The envelopes view. UI thread: which view is shown, the envelope under the tree's cursor, and
        # the worker's last answer to "may `b` roll it back, `c` cancel it" as (envelope id, refusal or None
        # by command id).
        self.envelopes_shown = False
        self.workers_shown = False
        self.queue_paused = False
        self.pane_status: str | None = None
        self.tree_envelope_id: int | None = None
        self.tree_job_id: int | None = None
        self._envelope_check: tuple[int | None, dict[str, str | None]] | None = None
        self._refusals_recorded: dict[tuple[str, int | str | None, str], float] = {}
        self.palette_listing: list[PaletteCommand] | None = None  # what the open palette lists
        for command in COMMANDS:
            self._describe_key(command.id, command.label_in(lang))
        # The first window needs no widget, only the terminal's height: it is read while the screen is
        # being built, and the poll worker installs it first.
        first_view = ViewState(max(1, self.app.size.height - 2), 0, 0, None, 0, False, None)
        self._poller.start_first(first_view)

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Little more than what the first rows need: the filter box and the detail pane's widgets come in
        # `_build_rest`, once the rows are on screen.
        yield StatusBar(lang=self.lang, id="status-bar")
        with ContentSwitcher(initial="jobs-view", id="views"):
            with Vertical(id="jobs-view"):
                yield FilterLine(lang=self.lang, id="filter-line", classes="hidden")
                labels = {c.key: t(f"col.{c.key}", self.lang) for c in COLUMNS}
                self._job_table = JobTable(labels, lang=self.lang, tz=self.tz, id="job-table")
                yield self._job_table
            yield EnvelopeTree(self._poller.load_tree, lang=self.lang, id="envelopes-view")
            yield WorkersView(lang=self.lang, id="workers-view")
        # Under the job table and under the envelope tree alike: the job under either cursor.
        yield DetailPane(lang=self.lang, tz=self.tz, keys_in_force=self.command_keys, id="detail")
        yield KeyBar(order=footer_order())

    async def _build_rest(self) -> None:
        """Mount the widgets the first paint went without (at once when a key needs one of them)."""
        async with self._rest_lock:
            if self._rest_built:
                return
            self.query_one(DetailPane).build()
            box = Input(
                placeholder=t("monitor.filter_placeholder", self.lang), id="filter-input", classes="hidden"
            )
            line = Input(
                placeholder=t("monitor.command_placeholder", self.lang), id="command-input", classes="hidden"
            )
            # A screen being closed (a quit right after the first paint) takes no more widgets; checked with
            # no wait before the one mount, so it cannot close in between.
            if not self.is_mounted or self._leaving:
                return
            await self.mount(box, line, before="#views")
            self._rest_built = True

    def on_mount(self) -> None:
        self.query_one(JobTable).focus()
        self._poller.poke()  # the first fetch goes at once, not after a poll interval
        self._poll()
        self.set_interval(1.0, self._tick_clock)

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    def set_engine_label(self, label: str, serving: bool = True) -> None:
        """The engine serving the database changed (a daemon went stale, the embedded engine started):
        the bar says so now, even while frozen or under a dialog, when the poller installs nothing.
        `serving`: whether any engine runs the jobs (none: the header counts the jobs left waiting)."""
        if label == self.engine_label and serving == self.engine_serving:
            return
        self.engine_label = label
        self.engine_serving = serving
        if self.is_mounted and not self._leaving:
            self.query_one(StatusBar).show_engine(label)
        self.wake(force=True)

    def store_opened(self) -> None:
        """The app opened the Store: on PostgreSQL, changes made from other hosts now wake the poller at
        once (LISTEN/NOTIFY)."""
        if self.is_attached and getattr(self, "_listener", None) is None:
            self._listener = self.backend.listen(self._poller.poke)
        self._poller.store_opened()

    # -- the refresh loop: the Poller on a worker thread, its results installed here ------------------

    def wake(self, force: bool = False) -> None:
        self._poller.wake(force)

    @work(thread=True, exclusive=True, group="poll")
    def _poll(self) -> None:
        self._poller.run()

    # What the poller asks on the worker thread (see PollerHost): values the UI thread replaces whole.

    def job_query(self) -> Query:
        return Query(self.filter, self.order, self.frozen, self.engine_label, self.engine_serving)

    def holds_still(self) -> bool:
        return self.frozen or self.app.screen is not self

    def watched_envelope(self) -> tuple[bool, int | None]:
        return self.envelopes_shown, self.tree_envelope_id

    # The dialogs are not imported before the first paint (they import the engine's models): a dialog is
    # known by what it has, `subject_job_id` and `subject_now` (DialogScreen).

    def dialog_job(self) -> int | None:
        subject_job_id = getattr(self.app.screen, "subject_job_id", None)
        return subject_job_id() if subject_job_id is not None else None

    def dialog_subject_now(self, job_id: int, status: str | None, step: str | None) -> None:
        subject_now = getattr(self.app.screen, "subject_now", None)
        if subject_now is not None:
            subject_now(job_id, status, step)

    def table_moves(self) -> int:
        return self._job_table.moves

    def envelope_refusals(self, envelope_id: int) -> dict[str, str | None]:
        return self._envelope_state(envelope_id)[1]

    # What the poller hands back, on the UI thread (see PollerHost).

    def append_log(self, chunk: str) -> None:
        self.query_one(DetailPane).append_log(chunk)

    def db_lost(self, exc: ReadFailed) -> None:
        self.query_one(StatusBar).mark_unreachable(True)
        self._db_error(exc)

    def row_unreadable(self, problem: CorruptRow) -> None:
        """The job under the cursor holds a value jobtui does not know (its row was changed by hand): the
        pane stays empty, so no action is offered on it, and the notice names the row and the field."""
        self.allowed = {}
        try:
            self._show_no_job(self.query_one(DetailPane))
        except NoMatches:  # the poller's word came as the screen closed: its widgets went first
            return
        self.refresh_bindings()
        self.notify(f"{t('monitor.db_error', self.lang)}: {problem}", severity="error")

    def db_back(self) -> None:
        self.query_one(StatusBar).mark_unreachable(False)
        self.notify(t("monitor.db_back", self.lang))

    def on_unmount(self) -> None:
        listener = getattr(self, "_listener", None)
        if listener is not None:
            listener.stop()

    def _db_error(self, exc: ReadFailed) -> None:
        # On one line: the driver's hints come on lines of their own, indented with a tab (shown as ^I).
        self.notify(
            f"{t('monitor.db_error', self.lang)}: {' '.join(str(exc.orig).split())}", severity="error"
        )

    def view_state(self) -> ViewState:
        table = self.table
        # Until the screen has caught up with the table's moves, the job under the cursor is the table's.
        selected = self.detail_job_id if table.moves == self._moves else table.selected_job_id()
        return ViewState(
            table.rows_visible,
            int(table.scroll_y),
            table.cursor,
            selected,
            table.moves,
            self.envelopes_shown,
            self.tree_envelope_id,
            self.tree_job_id,
        )

    def _envelope_state(self, envelope_id: int) -> tuple[EnvelopeFacts | None, dict[str, str | None]]:
        """The envelope as a dialog shows it (None: gone), and why each key that acts on it (`b`, `c`)
        would be refused now, by command id (None: it would not)."""
        from jobtui.screens.dialogs import EnvelopeFacts

        try:
            summary, refusals = self.backend.reads.envelope_state(envelope_id, self.envelopes)
        except CorruptRow as problem:  # a job of its chain changed by hand: nothing is decided on a guess
            return None, {command.id: str(problem) for command in envelope_commands()}
        if summary is None:
            gone = t("monitor.envelope_gone", self.lang, id=envelope_id)
            return None, {command.id: gone for command in envelope_commands()}
        facts = EnvelopeFacts(summary.id, summary.name, summary.project, summary.status, summary.jobs)
        return facts, refusals

    def install_tree(self, fetched: TreeFetched) -> None:
        if self._leaving:
            return
        tree = self.query_one(EnvelopeTree)
        if fetched.data is not None:
            tree.show(fetched.data)
            self._show_envelope_if_on_one()  # its status, its jobs' may have changed
        enabled_before = self._envelope_keys_enabled()
        self._envelope_check = (fetched.envelope_id, fetched.refusals)
        if self._envelope_keys_enabled() != enabled_before:
            self.refresh_bindings()

    def _envelope_keys_enabled(self) -> tuple[bool | None, ...]:
        return tuple(self.check_action(command.action_name, ()) for command in envelope_commands())

    def _fetch_detail(self, job_id: int) -> JobDetail | None:
        return self._poller.fetch_detail(job_id)

    @property
    def _leaving(self) -> bool:
        """The screen is being removed (the app is closing): the poller's last fetch may arrive after some
        of the widgets it fills are gone."""
        return self._pruning or self._closing

    def install(self, fetched: Fetched) -> None:
        if self._leaving:
            return
        table = self.table
        # The operator moved the cursor after this fetch began: the cursor stays where the keys put it,
        # and the detail (of a job the cursor already left) waits for the fetch those moves asked for.
        stale = fetched.moves != self._job_table.moves
        cursor_index = None if stale else fetched.cursor_index
        if cursor_index is not None:
            top = int(table.scroll_y)
            if not top <= cursor_index < top + table.rows_visible:
                table.scroll_to(
                    y=max(0, cursor_index - table.rows_visible // 2),
                    animate=False,
                    immediate=True,
                    force=True,
                )
        table.now = self.backend.now()
        table.set_data(fetched.total, fetched.start, fetched.rows, cursor_index)
        if fetched.bar is not None:
            self._show_bar(fetched.bar)
        self._say_what_is_shown(fetched.total)
        if self.first_paint_at is None:
            # Counted once the frame with these rows has been written out, not when they arrive.
            self.call_after_refresh(self._first_painted)
        self.call_after_refresh(self._poller.rows_drawn.set)
        pane = self.query_one(DetailPane)
        allowed_before = self.allowed
        if stale:
            # The worker waits for this call: resetting its record of what the pane shows is safe here.
            self._poller.forget_shown()
        elif fetched.detail_id is None:
            if not self.envelopes_shown:
                self.detail_job_id = None
            self.allowed = {}
            self._poller.pane_cleared()
            self._show_no_job(pane)
        elif fetched.log_chunk:
            pane.append_log(fetched.log_chunk)
        if self._enabled_keys(allowed_before) != self._enabled_keys(self.allowed):
            self.refresh_bindings()

    def install_bar(self, bar: BarState) -> None:
        if not self._leaving:
            self._show_bar(bar)

    def _show_bar(self, bar: BarState) -> None:
        self.query_one(StatusBar).show(replace(bar, frozen=self.frozen))
        self._show_queue_toggle(bar.queue_paused)
        self._every_job = sum(bar.counts.values())

    def install_detail(self, detail: JobDetail, moves: int) -> None:
        if self._leaving:
            return
        if moves != self._job_table.moves:
            self._poller.forget_shown()
            return
        self._show_detail(detail)

    def _say_what_is_shown(self, matching: int) -> None:
        """The filter line: the filter in force with "N of M jobs", or why the table is empty."""
        if self._every_job is None:
            return  # no counts read yet: a fresh table is not an empty database
        shown = Shown(self.filter, self.attention_shown, matching, self._every_job)
        self.query_one(FilterLine).show(shown)

    def _show_detail(self, detail: JobDetail) -> None:
        allowed_before = self.allowed
        if not self.envelopes_shown:
            self.detail_job_id = detail.job["id"]  # the table's job (the tree's is `tree_job_id`)
        self.allowed = detail.allowed
        self._show_job_toggles(str(detail.job["status"]))
        pane = self.query_one(DetailPane)
        pane.show(detail)
        if pane.is_built:
            tasks = pane.query_one(TaskTable)
            self._poller.tasks_at(tasks.job_id, tasks.wanted_window()[0])
        if self._enabled_keys(allowed_before) != self._enabled_keys(self.allowed):
            self.refresh_bindings()

    def _first_painted(self) -> None:
        if self.first_paint_at is not None:
            return
        self.first_paint_at = time.perf_counter()
        # What is not needed for the first rows is built now, behind them.
        self.call_later(self._build_rest)
        self.post_message(self.FirstPaint())

    def _tick_clock(self) -> None:
        if self.frozen:  # nothing moves: the times shown stay those of the moment it froze
            return
        now = self.backend.now()
        self.query_one(DetailPane).tick(now)
        self._job_table.tick(now)
        if self.workers_shown:
            self._read_workers()
        self._flush_alerts()  # what a burst left waiting goes out a second later

    @work(thread=True, exclusive=True, group="workers")
    def _read_workers(self) -> None:
        """The workers view's numbers, read off the UI thread (once a second while it is shown)."""
        now = self.backend.now()
        try:
            with self.backend.reading():
                data = WorkersData(
                    engines(self.listing),
                    throughput(self.listing, now),
                    waiting(self.listing, now),
                    now,
                )
        except ReadFailed as exc:
            self.app.call_from_thread(self._db_error, exc)
            return
        self.app.call_from_thread(self._show_workers, data)

    def _show_workers(self, data: WorkersData) -> None:
        try:
            view = self.query_one(WorkersView)
        except NoMatches:  # the read came back as the screen closed: its widgets went first
            return
        view.show(data)

    # -- alerts (see screens/alerts.py) ------------------------------------------------------------------

    def alert_statuses(self) -> frozenset[str]:
        return self.alerter.statuses

    def alert(self, entered: list[Entered]) -> None:
        self.alerter.offer(entered, time.monotonic())
        self._flush_alerts()

    def _flush_alerts(self) -> None:
        self.alerter.due(time.monotonic(), self._write_to_terminal, self._alert_toast)

    def _write_to_terminal(self, sequence: str) -> None:
        driver = self.app._driver
        if driver is not None:
            driver.write(sequence)

    def _alert_toast(self, title: str, body: str) -> None:
        self.notify(body, title=title, severity="warning", timeout=8)

    # -- table events -------------------------------------------------------------------------------

    @on(JobTable.CursorMoved)
    def _cursor_moved(self, event: JobTable.CursorMoved) -> None:
        # Keys keep acting on the job the detail pane shows until the new one arrives (tens of ms);
        # repainting the footer on every key repeat would make a held key queue behind rendering.
        if event.moves <= self._moves:
            return  # a move from before the screen placed the cursor itself (a new order, a jump)
        self.detail_job_id = event.job_id
        self._moves = event.moves
        self._poller.moved()

    @on(JobTable.WindowNeeded)
    def _window_needed(self, event: JobTable.WindowNeeded) -> None:
        self._poller.want_window(event.start, event.size)

    @on(TaskTable.WindowNeeded)
    def _tasks_needed(self, event: TaskTable.WindowNeeded) -> None:
        self._poller.want_tasks(event.job_id, event.start, event.size)

    def install_tasks(self, window: TaskWindow) -> None:
        if self._leaving:
            return
        self.query_one(DetailPane).show_tasks(window)

    @on(Tree.NodeHighlighted, "#envelopes-view")
    def _envelope_highlighted(self) -> None:
        tree = self.query_one(EnvelopeTree)
        job_id = tree.selected_job_id()
        if job_id != self.tree_job_id:
            self.tree_job_id = job_id  # the pane (and the job keys) follow the tree's cursor
            self.wake(force=True)
        self._show_envelope_if_on_one()  # at once: the tree's data has it, no read to wait for
        envelope_id = tree.selected_envelope_id()
        if envelope_id != self.tree_envelope_id:
            # `b` (and `c` on its line) stay dimmed until the worker says whether this envelope may be
            # rolled back (cancelled).
            self.tree_envelope_id = envelope_id
            self.refresh_bindings()
            self.wake()
        self._describe_envelope_keys()

    def _describe_envelope_keys(self) -> None:
        """The keys that act on the envelope say so where they do: `c` reads "Cancel envelope" on an
        envelope's own line and "Cancel" on one of its jobs (the view's switch words `b` once for all)."""
        changed = False
        for command in COMMANDS:
            if not command.envelope_label:
                continue
            label = self.label_of(command)
            bound = [b for bs in self._bindings.key_to_bindings.values() for b in bs if b.id == command.id]
            if any(binding.description != label for binding in bound):
                self._describe_key(command.id, label)
                changed = True
        if changed:
            self.refresh_bindings()

    @on(JobTable.HeaderClicked)
    def _header_clicked(self, event: JobTable.HeaderClicked) -> None:
        if self.order.column == event.column:
            self._set_order(JobSort(event.column, not self.order.descending))
        else:
            self._set_order(first_order(event.column))

    # -- which keys are enabled ---------------------------------------------------------------------

    @staticmethod
    def _enabled_keys(allowed: dict[str, str | None]) -> frozenset[str]:
        return frozenset(command.id for command in job_commands() if enabled_for(command, allowed))

    @staticmethod
    def _refusable(action: str) -> Command | None:
        """The command behind an action that the service may refuse (a job's or the queue's)."""
        command = BY_ID.get(action)
        if command is None or not (command.rules or command.acts is Acts.QUEUE):
            return None
        return command

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        shown_command = BY_ACTION.get(action)
        if self.workers_shown and shown_command is not None and shown_command.shows_no_engines:
            return False  # hidden: the workers view has no job to act on, read, filter or sort
        if shown_command is not None and self.envelope_acting(shown_command):
            if self.readonly:
                return False
            # Dimmed until the poller has answered for the envelope under the cursor, then by its answer.
            check = self._envelope_check
            if self.tree_envelope_id is None or check is None or check[0] != self.tree_envelope_id:
                return None
            return True if check[1].get(shown_command.id, "") is None else None
        command = self._refusable(action)
        if command is None:
            return True
        if self.readonly:
            return False
        if command.rules:
            return True if enabled_for(command, self.allowed) else None
        # The queue's keys: dimmed (and refused with the reason) without the permission.
        return None if refusal_by_permission(command, self.backend.actor) else True

    async def on_key(self, event: events.Key) -> None:
        """A disabled key still answers: the operator learns why the engine would refuse it."""
        if self.readonly and not isinstance(self.focused, Input):
            # The actions' keys are hidden, not gone from the operator's fingers: say why nothing happens.
            bound = self._bindings.key_to_bindings.get(event.key, [])
            if any(self._refusable(binding.action) for binding in bound):
                event.stop()
                self.notify(t("monitor.readonly_key", self.lang), severity="warning", timeout=4)
                return
        active = self.active_bindings.get(event.key)
        if active is None or active.enabled or self._refusable(active.binding.action) is None:
            return
        if self.workers_shown:
            return  # no job here: the key does nothing, it is not refused
        event.stop()
        await self.answer_refused(active.binding.action)

    async def answer_refused(self, action: str) -> None:
        """A dimmed command was asked for, by its key or from the palette: say why it is refused, and run
        nothing (unless the job under the cursor, which the pane had not caught up with, allows it)."""
        if self._pane_behind_cursor():
            # Dimmed for the job the pane still shows: ask about the job under the cursor.
            self._catch_up_with_cursor()
            if self.check_action(action, ()) is True:
                await self.run_action(action)
                return
        command = BY_ACTION.get(action)
        if command is not None and self.envelope_acting(command):
            # The dimmed state may be a poll old: ask the engine now, and open the dialog if it allows.
            await self.envelope_command(command.id)
            return
        self.refuse(action, timeout=6)

    def refuse(self, key: str, timeout: float = 5) -> None:
        """Say why the command of `key` is refused, and record the refusal in the trail (the job's, or the
        queue's), as the service records the CLI's: who asked for what, on which job, and why."""
        self.notify(self.refusal(key), title=self._refused_title(key), severity="warning", timeout=timeout)
        reason, on = self._refusal_facts(key)
        if not reason:
            return  # no job selected, or no reason known: nothing to record
        if self._first_time((key, on.job_id if on is not None else None, str(reason))):
            self._record_refusal(key, str(reason), on)

    def refuse_envelope(self, key: str, envelope_id: int, reason: str) -> None:
        """Say why the key's envelope command is refused on the envelope, and record the refusal as the
        CLI's verb records it (`jobtui envelope-cancel`: action `envelope-cancel` on `(envelope N)`)."""
        self.notify(self.say_refusal(reason, key), title=self._refused_title(key), severity="warning")
        if self._first_time((key, f"envelope {envelope_id}", str(reason))):
            self._record_envelope_refusal(key, envelope_id, str(reason))

    def _first_time(self, said: tuple[str, int | str | None, str]) -> bool:
        """Whether a refusal (key, subject, reason) is to be recorded: a held key repeats, and records one
        row for the same refusal of the same job or envelope within a few seconds."""
        now = time.monotonic()
        if now - self._refusals_recorded.get(said, -REFUSAL_RECORDED_S) < REFUSAL_RECORDED_S:
            return False
        self._refusals_recorded = {
            was: at for was, at in self._refusals_recorded.items() if now - at < REFUSAL_RECORDED_S
        }
        self._refusals_recorded[said] = now
        return True

    @work(thread=True, group="refusals")
    def _record_envelope_refusal(self, key: str, envelope_id: int, reason: str) -> None:
        from jobtui.engine.service.actions import RefusedOn

        verb = BY_ID[key].envelope_cli
        assert verb is not None
        self.actions.record_refusal(verb.verb, reason, RefusedOn(0, f"(envelope {envelope_id})", None))

    @work(thread=True, group="refusals")
    def _record_refusal(self, key: str, reason: str, on: RefusedOn | None) -> None:
        try:
            # (record_refusal never fails; asking whether the queue is paused, for `P`, may.)
            with self.backend.reading():
                self.actions.record_refusal(self._refused_action(key), reason, on)
        except ReadFailed as exc:  # the header says the database is away; the worker must not fail
            self.app.call_from_thread(self._db_error, exc)

    def _refused_action(self, key: str) -> str:
        """The action a refused key asked for, named as the CLI's refusal of it is in the trail."""
        command = BY_ID[key]
        return command.audited_action(command.toggles_queue and self.actions.queue_state().paused)

    def _refusal_facts(self, key: str) -> tuple[str | None, RefusedOn | None]:
        """The engine's reason for refusing `key` now (None: no job selected) and the job it is about."""
        from jobtui.engine.service.actions import QUEUE, RefusedOn

        command = BY_ID[key]
        if command.acts is Acts.QUEUE:
            return refusal_by_permission(command, self.backend.actor) or "", QUEUE
        detail = self.query_one(DetailPane).detail
        if detail is None:
            return None, None
        job = detail.job
        on = RefusedOn(job["id"], job["name"], job["status"])
        return refusal_for(command, self.allowed, job["id"], job["status"]), on

    def refusal(self, key: str) -> str:
        reason, _ = self._refusal_facts(key)
        if reason is None:
            return t("monitor.no_job_selected", self.lang)
        return self.say_refusal(reason, key)

    def say_refusal(self, reason: str, command_id: str) -> str:
        """The engine's reason for refusing a command, in this dashboard's language."""
        return refusal_text(reason, self.lang, self.label_of(BY_ID[command_id]))

    def _envelope_refusal(self, key: str) -> str | None:
        """Why the key's envelope command (`b`, `c` on an envelope's line) would be refused now (None: it
        would not): the poller's answer for the envelope under the cursor, or one read now if it has not
        answered for that envelope yet."""
        envelope_id = self.tree_envelope_id
        if envelope_id is None:
            return t("monitor.no_envelope_selected", self.lang)
        if self._envelope_check is not None and self._envelope_check[0] == envelope_id:
            refused = self._envelope_check[1].get(key)
        else:
            try:
                with self.backend.reading():
                    refused = self.envelope_refusals(envelope_id).get(key)
            except ReadFailed as exc:
                return f"{t('monitor.db_error', self.lang)}: {exc.orig}"
        return None if refused is None else self.say_refusal(refused, key)

    def palette_commands(self) -> list[PaletteCommand]:
        """The registry's commands as the palette lists them, titled with the keys that run them now. Those
        the footer dims come with why they are refused (what their key says when pressed); those it hides
        (read-only, a job's command in the workers view) are left out."""
        in_force = self.keys_in_force()
        commands: list[PaletteCommand] = []
        for command in COMMANDS:
            if command.id not in in_force:
                continue
            action = command.action_name
            enabled = self.check_action(action.split("(")[0], ())
            if enabled is False:
                continue
            title = f"{self.label_of(command)} ({in_force[command.id]})"
            description = command.description_in(self.lang, self.on_envelope(command))
            words = command.words_in(self.lang)
            if enabled:
                run = partial(self.app.run_action, action, self)
                commands.append(PaletteCommand(title, description, run, words=words))
                continue
            if self.envelope_acting(command):
                # Dimmed until the poller has asked about this envelope: read now, it may well be allowed
                # (answer_refused asks again and opens the dialog then).
                refusal = self._envelope_refusal(command.id)
            else:
                refusal = self.refusal(action)
            answer = partial(self.answer_refused, action)
            commands.append(PaletteCommand(title, description, answer, refusal, words))
        return commands

    def _cursor_job_id(self) -> int | None:
        """The job under the shown view's cursor: the one the job keys act on."""
        return self.tree_job_id if self.envelopes_shown else self.table.selected_job_id()

    def _pane_behind_cursor(self) -> bool:
        """The view's cursor is on another job than the pane shows (the pane follows tens of ms later, or
        later still while the app starts)."""
        if self.workers_shown:
            return False
        detail = self.query_one(DetailPane).detail
        return (detail.job["id"] if detail is not None else None) != self._cursor_job_id()

    def _show_envelope_if_on_one(self) -> bool:
        """Show the envelope whose line is under the tree's cursor in the pane, if one is."""
        envelope = self.query_one(EnvelopeTree).selected_envelope() if self.envelopes_shown else None
        if envelope is not None:
            self.query_one(DetailPane).show_envelope(*envelope)
        return envelope is not None

    def _show_no_job(self, pane: DetailPane) -> None:
        """No job to show: the envelope under the tree's cursor, if its line is, else nothing."""
        self._show_job_toggles(None)
        if not self._show_envelope_if_on_one():
            pane.show_empty()

    def _catch_up_with_cursor(self) -> None:
        """Before a job key acts: the pane, its snapshot and its allowed actions are of the job under the
        view's cursor (the table's or the tree's), read now if the poller has not shown it yet."""
        if not self._pane_behind_cursor():
            return
        pane = self.query_one(DetailPane)
        job_id = self._cursor_job_id()
        detail = None
        if job_id is not None:
            try:
                with self.backend.reading():
                    detail = self._fetch_detail(job_id)
            except ReadFailed as exc:
                self._db_error(exc)
            except CorruptRow as problem:
                self.row_unreadable(problem)
        # The worker's record of what the pane shows is stale now: it reads the detail again.
        self._poller.forget_shown()
        if detail is None:
            self.allowed = {}
            self._show_no_job(pane)
            self.refresh_bindings()
        else:
            self._show_detail(detail)
        self.wake()

    # -- views, filters, sorting, freeze ------------------------------------------------------------

    async def action_view(self, which: str) -> None:
        await self._build_rest()
        switcher = self.query_one(ContentSwitcher)
        self.envelopes_shown = which == "envelopes"
        self.workers_shown = which == "workers"
        switcher.current = f"{which}-view"
        self.query_one(DetailPane).display = not self.workers_shown
        if self.workers_shown:
            self.query_one(WorkersView).focus()
            self._read_workers()
            self.refresh_bindings()
            return
        for command in COMMANDS:
            if command.envelope_label:
                self._describe_key(command.id, self.label_of(command))
        if self.envelopes_shown:
            tree = self.query_one(EnvelopeTree)
            # Shown at once from the UI thread; the poll worker keeps it current from then on. Before the
            # Store is open (a dashboard opening on this view) the worker reads it once it is: waiting for
            # it here held the UI thread, whose first paint is what opens the Store.
            if self.backend.is_open:
                tree.reload()
            if tree.cursor_node is None:
                tree.cursor_line = 0  # `b` and `n` have an envelope to act on straight away
            self.tree_envelope_id = tree.selected_envelope_id()
            self.tree_job_id = tree.selected_job_id()
            self._poller.reload_tree()
            tree.focus()
        else:
            self.table.focus()
        self.wake(force=True)  # the pane shows the job under this view's cursor
        self.refresh_bindings()

    def _show_queue_toggle(self, paused: bool) -> None:
        """The queue's pause key says what it does now: "Resume queue" while the queue is paused (it said
        "Pause queue" then, in the footer, the palette and its refusals)."""
        if paused == self.queue_paused:
            return
        self.queue_paused = paused
        for command in COMMANDS:
            if command.paused_label:
                self._describe_key(command.id, self.label_of(command))
        self.refresh_bindings()

    def _show_job_toggles(self, status: str | None) -> None:
        """A job toggle's key says what it does to the pane's job: "Trap resume" on a trap-paused one (it
        said "Trap pause" then, in the footer, the help and the palette)."""
        before, self.pane_status = self.pane_status, status
        toggled = [
            command
            for command in COMMANDS
            if command.resume_label and (before in command.resumes_from) != (status in command.resumes_from)
        ]
        for command in toggled:
            self._describe_key(command.id, self.label_of(command))
        if toggled:
            self.refresh_bindings()

    def _describe_key(self, binding_id: str, description: str) -> None:
        """Say in the footer what a key does here and now, in the operator's language.

        BINDINGS are per class, but each screen keeps its own map of them: replacing the binding there
        (same id and key, so a remapped key keeps working) changes only this screen's footer.
        """
        keys = self._bindings.key_to_bindings
        for key, bindings in keys.items():
            keys[key] = [replace(b, description=description) if b.id == binding_id else b for b in bindings]

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        if focused is None:
            return
        # A part of the detail pane (its tasks, its log) zooms the whole pane: the job is read together.
        pane = next((node for node in focused.ancestors_with_self if isinstance(node, DetailPane)), focused)
        self.maximize(pane, container=False)

    async def action_filter(self) -> None:
        self._skip_while_typing()
        await self._build_rest()
        box = self.query_one("#filter-input", Input)
        box.remove_class("hidden")
        # Focused now, not at the next turn of the loop (`focus()`): the keys typed right after `/` are
        # handed to whatever has the focus as soon as this returns (see INPUT_KEYS).
        self.set_focus(box)

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter = replace(self.filter, text=event.value)
        self.wake(force=True)

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self) -> None:
        self.table.focus()

    async def action_command_line(self) -> None:
        self._skip_while_typing()
        await self._build_rest()
        line = self.query_one("#command-input", Input)
        line.value = ""
        line.remove_class("hidden")
        self.set_focus(line)  # now: the keys typed right after `:` are the command's (see INPUT_KEYS)

    def _close_command_line(self) -> None:
        line = self.query_one("#command-input", Input)
        line.value = ""
        line.add_class("hidden")
        self.table.focus()

    @on(Input.Submitted, "#command-input")
    def _command_submitted(self, event: Input.Submitted) -> None:
        command = event.value.strip()
        self._close_command_line()
        if command in ("q", "quit"):
            self.app.action_request_quit()  # type: ignore[attr-defined]
        elif looks_like_id(command):
            job_id = typed_id(command)
            if job_id is None:  # past any id the database can hold
                said = t("monitor.no_such_job", self.lang, id=command.removeprefix("#"))
                self.notify(said, severity="warning")
            else:
                self._jump_to(job_id)
        elif command:
            self.notify(t("monitor.unknown_command", self.lang, command=visible(command)), severity="warning")

    @work(thread=True, group="jump")
    def _jump_to(self, job_id: int) -> None:
        """Move the cursor to the job, clearing the filter if it hides the job; say so if there is none
        (or the actor may not see it)."""
        listing, order = self.listing, self.order
        wanted: JobFilter | None = None
        try:
            for candidate in (self.filter, JobFilter(), JobFilter(show_system=True)):
                if listing.position_of(candidate, order, job_id) is not None:
                    wanted = candidate
                    break
        except ReadFailed as exc:  # the header says the database is away; the worker must not fail
            self.app.call_from_thread(self._db_error, exc)
            return
        if wanted is None:
            self.app.call_from_thread(
                self.notify, t("monitor.no_such_job", self.lang, id=job_id), severity="warning"
            )
            return
        self.app.call_from_thread(self._jumped, job_id, wanted)

    def _jumped(self, job_id: int, wanted: JobFilter) -> None:
        if wanted != self.filter:
            self._leave_attention()
            self.filter = wanted
            box = self.query_one("#filter-input", Input)
            box.value = ""
            box.add_class("hidden")
            self.notify(t("monitor.jump_cleared_filter", self.lang, id=job_id), timeout=3)
        # The fetch places the cursor on the job the screen last selected, wherever it stands in the list.
        self.detail_job_id = job_id
        self._job_table.disown_reads_in_flight()
        self._moves = self._job_table.moves
        self.wake(force=True)

    def action_clear_filter(self) -> None:
        if not self._rest_built:
            return  # no filter box yet: nothing typed to clear
        if self.query_one("#command-input", Input).has_focus:
            self._close_command_line()
            return
        box = self.query_one("#filter-input", Input)
        if box.has_focus or self.filter.text:
            box.value = ""
            box.add_class("hidden")
            self.filter = replace(self.filter, text="")
            self.table.focus()
            self.wake(force=True)

    def action_attention(self) -> None:
        if self._leave_attention():
            self.notify(t("monitor.attention_off", self.lang), timeout=2)
            self.wake(force=True)
            return
        self._before_attention = (self.filter.statuses, self.order, self.filter.show_system)
        # System jobs too: the header counts them (a trapped one waits for a person as much).
        self.filter = replace(
            self.filter, statuses=frozenset(status.value for status in NEEDS_ATTENTION), show_system=True
        )
        self._set_order(JobSort("waiting", descending=False))
        self.notify(t("monitor.attention_on", self.lang), timeout=2)

    def _leave_attention(self) -> bool:
        """Give back the status filter and order the needs-attention view replaced; whether it was open."""
        if self._before_attention is None:
            return False
        statuses, order, show_system = self._before_attention
        self._before_attention = None
        self.filter = replace(self.filter, statuses=statuses, show_system=show_system)
        self._set_order(order)
        return True

    @property
    def attention_shown(self) -> bool:
        return self._before_attention is not None

    async def action_status_filter(self) -> None:
        from jobtui.screens.dialogs import StatusPicker

        self._skip_while_typing()
        chosen = self.filter.statuses

        def done(statuses: frozenset[str] | None) -> None:
            if statuses is None:
                return
            self._leave_attention()
            self.filter = replace(self.filter, statuses=statuses)
            names = ", ".join(status_label(status, self.lang) for status in sorted(statuses))
            shown = names or t("monitor.all", self.lang)
            self.notify(t("monitor.status_filter", self.lang, status=shown), timeout=2)
            self.wake(force=True)

        await self._open(StatusPicker(chosen, lang=self.lang), done)

    def action_toggle_system(self) -> None:
        self.filter = replace(self.filter, show_system=not self.filter.show_system)
        if self._before_attention is not None:  # the needs-attention view shows them: kept for after it
            statuses, order, show_system = self._before_attention
            self._before_attention = (statuses, order, not show_system)
        self.notify(
            t("monitor.system_shown" if self.filter.show_system else "monitor.system_hidden", self.lang),
            timeout=2,
        )
        self.wake(force=True)

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        bar = self.query_one(StatusBar)
        bar.set_class(self.frozen, "frozen")
        self.wake(force=True)
        if self.frozen:
            # The poller stops installing data; repaint the bar now so the banner shows at once.
            self._show_frozen_banner()

    def _show_frozen_banner(self) -> None:
        paused, reason = self.listing.queue_flags()
        counts = self.listing.status_counts(self.filter.show_system)
        self.query_one(StatusBar).show(
            BarState(
                paused,
                reason,
                counts,
                self.backend.actor.user,
                self.db_label,
                self.engine_label,
                True,
                self.readonly,
                self.listing.shown_counts(self.filter),
                attention=self.listing.attention_count(counts if self.filter.show_system else None),
            )
        )

    def action_sort(self, step: int) -> None:
        keys = [c.key for c in self._job_table.columns if c.key in SORTABLE]  # in the order shown
        # From the first column when the order is none of them (the needs-attention view's "waiting").
        at = keys.index(self.order.column) if self.order.column in keys else -step if step > 0 else 0
        index = (at + step) % len(keys)
        self._set_order(first_order(keys[index]))

    def action_reverse_sort(self) -> None:
        self._set_order(JobSort(self.order.column, not self.order.descending))

    def _set_order(self, order: JobSort) -> None:
        """A new order shows the top of the list (the first job selected), not the old cursor's job."""
        self.order = order
        self.table.set_order(order, to_top=True)
        self.detail_job_id = None  # the fetch selects what is now first
        self._moves = self._job_table.moves
        self.wake(force=True)

    def action_help(self) -> None:
        from jobtui.screens.dialogs import HelpScreen
        from jobtui.widgets.status_style import ENVELOPE_SYMBOLS, SYMBOLS

        in_force = self.keys_in_force()
        rows = [
            (in_force[command.id], command.description_in(self.lang, self.on_envelope(command)))
            for command in COMMANDS
            if command.id in in_force
        ]
        rows += [
            (fixed.keys, fixed.description.get(self.lang) or fixed.description["en"]) for fixed in FIXED_KEYS
        ]
        legend = [(SYMBOLS[status], status_label(status, self.lang)) for status in Status]
        envelope_legend = [
            (symbol, envelope_status_text(status, self.lang)) for status, symbol in ENVELOPE_SYMBOLS.items()
        ]
        self.app.push_screen(HelpScreen(rows, lang=self.lang, legend=legend, envelope_legend=envelope_legend))

    def command_keys(self) -> dict[str, str]:
        """Command id → the keys this screen binds to it (after keys.toml), whatever has the focus: an open
        command line or filter takes the printable keys out of `keys_in_force` while it is open. Without
        the commands this dashboard hides (read-only)."""
        bindings = self._bindings.copy()
        if self.app._keymap:
            bindings.apply_keymap(self.app._keymap)
        keys: dict[str, list[str]] = {}
        for _key, binding in bindings:
            name = binding.action.partition("(")[0]
            if binding.id in BY_ID and self.check_action(name, ()) is not False:
                keys.setdefault(binding.id, []).append(self.app.get_key_display(binding))
        return {command_id: " ".join(shown) for command_id, shown in keys.items()}

    def keys_in_force(self) -> dict[str, str]:
        """Command id → the keys that run it now, as typed ("?", "A"): after keys.toml, and without the
        commands this dashboard hides (read-only)."""
        keys: dict[str, list[str]] = {}
        for active in self.active_bindings.values():
            binding = active.binding
            if binding.id in BY_ID:
                keys.setdefault(binding.id, []).append(self.app.get_key_display(binding))
        return {command_id: " ".join(shown) for command_id, shown in keys.items()}


__all__ = ["MonitorScreen"]
