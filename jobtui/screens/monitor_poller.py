"""The monitor's refresh loop: what runs on the poll worker thread, and every piece of state it keeps.

Reads happen on a worker thread that wakes on the change feed; the UI thread only installs results.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from textual.worker import get_current_worker

from jobtui.engine.domain.alerting import Entered
from jobtui.engine.errors import CorruptRow, ReadFailed, Refusal
from jobtui.engine.read.engines import waiting
from jobtui.engine.read.listing import JobFilter, JobRow, JobSort
from jobtui.engine.service.envelope_tree import TreeData
from jobtui.widgets.detail import JobDetail
from jobtui.widgets.log_reading import LogTail
from jobtui.widgets.statusbar import BarState

if TYPE_CHECKING:
    from jobtui.engine.service.backend import Backend
    from jobtui.engine.service.reads import TaskWindow

POLL_SECONDS = 0.25
# While the database is unreachable, try again less often: each attempt waits for a connect timeout.
UNREACHABLE_POLL_SECONDS = 2.0
# The header's counts are read again when the database changed, but after a read that took T seconds not
# before T times this has passed: where counting is slow (PostgreSQL counts every job it shows: a second at
# a million), the rows and the detail stay live while the engines write all the time, and the counts
# follow a few seconds behind. Where they are kept counted (SQLite: a fraction of a millisecond), at once.
BAR_GAP_PER_READ_S = 4.0


@dataclass(frozen=True)
class ViewState:
    """What the worker needs to know about the widgets, read on the UI thread."""

    visible: int
    top: int
    cursor: int
    selected: int | None  # the job the cursor was last moved onto (None: a row not fetched yet)
    moves: int  # how many times the operator has moved the cursor so far
    envelopes: bool  # the envelopes view is shown
    envelope_id: int | None  # the envelope under the tree's cursor
    tree_job: int | None = None  # the job under the tree's cursor: the pane's job in the envelopes view


@dataclass(frozen=True)
class Query:
    """What the operator chose to see, as the screen holds it when a fetch reads it (worker thread)."""

    filter: JobFilter
    order: JobSort
    frozen: bool
    engine_label: str
    engine_serving: bool = True  # an engine runs the jobs (embedded, or a live daemon)


@dataclass(frozen=True)
class TreeFetched:
    """The envelope tree's data (None: unchanged) and whether the keys that act on the envelope under the
    cursor may (`b` roll it back, `c` cancel it): `refusals` by command id, None where it may."""

    data: TreeData | None
    envelope_id: int | None
    refusals: dict[str, str | None]


@dataclass(frozen=True)
class Fetched:
    """One refresh's rows and counts, installed on the UI thread in one go. The detail pane's job is read
    after they are on screen (`detail_id`, when `detail_needed`): rows never wait for a job's detail."""

    total: int
    start: int
    rows: list[JobRow]
    cursor_index: int | None
    bar: BarState | None
    detail_id: int | None  # the job the pane should show (None: clear it)
    detail_needed: bool  # its detail must be (re)read
    seq: int
    log_chunk: str = ""  # new output of the job already shown, when its detail did not change
    moves: int = 0  # ViewState.moves when the fetch began


@dataclass(frozen=True)
class LogChunk:
    """Only the shown job's log moved: ops write output without touching the database."""

    text: str


class PollerHost(Protocol):
    """What the poller asks of the screen, and the only way its results get back.

    Called on the worker thread (cheap reads of values the UI thread replaces whole): `job_query`,
    `holds_still`, `watched_envelope`, `table_moves`, `envelope_refusals` (inside `backend.reading()`),
    `dialog_job`. Called on the UI thread, through `app.call_from_thread`: `view_state`, `install`,
    `install_detail`, `install_tasks`, `install_tree`, `append_log`, `db_lost`, `db_back`,
    `dialog_subject_now`.
    """

    def job_query(self) -> Query: ...

    def holds_still(self) -> bool:
        """Frozen by the operator, or a dialog is open: nothing moves under it."""
        ...

    def watched_envelope(self) -> tuple[bool, int | None]:
        """Whether the envelopes view is shown, and the envelope under the tree's cursor."""
        ...

    def dialog_job(self) -> int | None:
        """The job the open dialog is about, if one is open over the screen."""
        ...

    def dialog_subject_now(self, job_id: int, status: str | None, step: str | None) -> None:
        """That job's status and step now (None: gone), for the dialog to show while it is open."""
        ...

    def table_moves(self) -> int:
        """How many cursor moves the job table has counted (`JobTable.moves`)."""
        ...

    def envelope_refusals(self, envelope_id: int) -> dict[str, str | None]: ...

    def view_state(self) -> ViewState: ...

    def install(self, fetched: Fetched) -> None: ...

    def install_bar(self, bar: BarState) -> None:
        """The header's counts alone, read while the table holds still under a dialog."""
        ...

    def install_detail(self, detail: JobDetail, moves: int) -> None: ...

    def install_tasks(self, window: TaskWindow) -> None:
        """A window of the shown job's tasks, as its tasks table asked (`Poller.want_tasks`)."""
        ...

    def install_tree(self, fetched: TreeFetched) -> None: ...

    def append_log(self, chunk: str) -> None: ...

    def db_lost(self, exc: ReadFailed) -> None: ...

    def row_unreadable(self, problem: CorruptRow) -> None: ...

    def alert_statuses(self) -> frozenset[str]:
        """The statuses that alert (empty: alerts are off)."""
        ...

    def alert(self, entered: list[Entered]) -> None: ...

    def db_back(self) -> None: ...


class Poller:
    """The refresh loop of the monitor, and all the state it keeps between two refreshes.

    It reads the database through `backend` (and its `listing`) only; what it needs of the widgets comes
    as a `ViewState` taken on the UI thread, and what it read goes back through `PollerHost`.

    Worker thread only (the poll worker, and the first fetch's thread before it): `_seen_seq`, `_row_seq`,
    `_tree_seq`, `_checked_envelope`, `_unreachable`, `_first`.
    Shared, assigned whole by either thread: `_force`, `_moved`, `_want_window` and `_want_tasks` (the UI
    thread asks, through `wake`, `moved`, `want_window` and `want_tasks`; a fetch takes them), `_tasks_at`
    (where the pane's tasks table stands, set by `want_tasks` and `tasks_at`, read by `fetch_detail`),
    `_tree_force` (`reload_tree` on the UI thread), `_detail_waits` (set by the worker, taken by
    `store_opened` on the UI thread), the events `_wake` and `rows_drawn` (set on the UI thread, waited on
    by the worker).
    Worker thread, reset by the UI thread only while the worker waits for its call (`forget_shown`,
    `pane_cleared`) or when it reads a detail itself (`fetch_detail`): `_shown`, `_shown_log`, `_log_tail`.
    """

    def __init__(
        self,
        backend: Backend,
        host: PollerHost,
        call_from_thread: Callable[..., Any],
        *,
        readonly: bool,
        lang: str,
        db_label: str,
    ) -> None:
        self._backend = backend
        self._listing = backend.listing
        self._host = host
        self._ui = call_from_thread
        self._readonly = readonly
        self._lang = lang
        self._db_label = db_label
        self._wake = threading.Event()
        self.rows_drawn = threading.Event()  # set once the frame with the last installed rows is out
        self._detail_waits = False  # worker thread: a detail was left unread until the Store opens
        self._unreachable = False
        self._force = True
        self._want_window: tuple[int, int] | None = None
        self._want_tasks: tuple[int, int, int] | None = None  # job id, first task, how many
        self._tasks_at: tuple[int | None, int] = (None, 0)  # the pane's job, and its table's first task
        self._seen_seq = -1
        self._log_tail = LogTail()
        # Worker-thread state: which job (and feed seq) the detail pane was last filled from, and its log.
        self._shown: tuple[int | None, int | None] = (None, None)
        self._shown_log: int | None = None  # the job whose log the pane shows
        self._row_seq: int | None = None
        # Worker thread: the feed seq the tree was read at, and which envelope's refusal it last checked.
        self._tree_seq = -1
        self._tree_force = True
        self._checked_envelope: int | None = None
        self._first: Future[Fetched | LogChunk | None] | None = None
        # Worker thread: the feed seq alerts were last looked for at (None: not yet, the first look only
        # takes the seq), and when the dashboard opened: what entered a status before that is no news.
        self._alert_seq: int | None = None
        self._dialog_seen: tuple[int, str | None, str | None] | None = None  # the open dialog's job, as told
        self._opened_at = backend.now()
        self._moved = False  # shared: the table's cursor moved (`moved`), taken by a fetch
        # Worker thread: the table's total as last counted, for which filter at which feed seq; the feed seq
        # the header's counts were read at, how long their last read took and when it ended.
        self._counted: tuple[JobFilter, int, int] | None = None
        self._bar_seq = -1
        self._bar_cost_s = 0.0
        self._bar_read_at = float("-inf")
        self._monotonic = time.monotonic

    # -- asked for on the UI thread ---------------------------------------------------------------------

    def start_first(self, view: ViewState) -> None:
        """Fetch the first window at once, on its own thread: the poll worker installs it first."""
        self._first = Future()
        threading.Thread(target=self._prefetch, args=(view,), name="jobtui-first-fetch", daemon=True).start()

    def wake(self, force: bool = False) -> None:
        self._force = self._force or force
        self._wake.set()

    def moved(self) -> None:
        """The operator moved the table's cursor: the job's position and detail are read, not the counts,
        which only the database's changes move (a held key read them all at every row before)."""
        self._moved = True
        self._wake.set()

    def poke(self) -> None:
        """Refresh now rather than at the next interval (any thread: the change feed's listener too)."""
        self._wake.set()

    def want_window(self, start: int, size: int) -> None:
        self._want_window = (start, size)
        self.wake()

    def want_tasks(self, job_id: int, start: int, size: int) -> None:
        """Read a window of the pane's job's tasks (the tasks table scrolled to rows it does not hold)."""
        self._tasks_at = (job_id, start)
        self._want_tasks = (job_id, start, size)
        self._wake.set()

    def tasks_at(self, job_id: int | None, start: int) -> None:
        """Where the pane's tasks table stands: a detail read again for that job reads its tasks there."""
        self._tasks_at = (job_id, start)

    def reload_tree(self) -> None:
        """Read the envelope tree again at the next refresh, changed or not."""
        self._tree_force = True

    def store_opened(self) -> None:
        if self._detail_waits:
            self._detail_waits = False
            self._moved = True  # the detail left unread (`_shown` says none): not the counts again
        if self._moved or self._tree_force:
            self._wake.set()

    def forget_shown(self) -> None:
        """The pane keeps an older job than the worker read: make the worker read the detail again."""
        self._shown, self._shown_log = (None, None), None
        self._log_tail = LogTail()
        # The detail is read again as for a cursor move: the keys of a held arrow land here (a fetch
        # finds the cursor moved on) and must not read the header's counts again each time.
        self._moved = True

    def pane_cleared(self) -> None:
        """The pane shows no job: no detail nor log is shown any more."""
        self._shown, self._shown_log = (None, None), None

    def load_tree(self) -> TreeData:
        with self._backend.reading():
            return self._backend.reads.envelope_tree()

    # -- the refresh loop (worker thread) -----------------------------------------------------------

    def _nothing_new(self, seq: int | None = None) -> bool:
        """The idle path, four times a second: nothing changed in the database and nothing was asked
        for, so the UI thread is not even asked where the widgets stand; only the shown log may grow.
        `seq`: the feed's last seq when this loop already read it (the alert step)."""
        if (
            self._force
            or self._moved
            or self._want_window is not None
            or self._want_tasks is not None
            or self._unreachable
        ):
            return False
        if seq is None:
            seq = self._listing.last_seq()
        if seq != self._seen_seq or self._bar_waits(seq):
            return False
        envelopes_shown, envelope_id = self._host.watched_envelope()
        if envelopes_shown and (
            self._tree_force or seq != self._tree_seq or envelope_id != self._checked_envelope
        ):
            return False
        chunk = self._read_shown_log()
        if chunk:
            self._ui(self._host.append_log, chunk)
        return True

    def _prefetch(self, view: ViewState) -> None:
        assert self._first is not None
        try:
            self._first.set_result(self._fetch(view))
        except BaseException as exc:
            self._first.set_exception(exc)

    def run(self) -> None:
        """The poll worker's body (a thread worker of the screen's): refresh until it is cancelled."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            self._wake.wait(UNREACHABLE_POLL_SECONDS if self._unreachable else POLL_SECONDS)
            self._wake.clear()
            if worker.is_cancelled:
                return
            first, self._first = self._first, None
            try:
                # Asked for by the operator's own scrolling: read also while the screen holds still.
                self._tasks_step()
            except ReadFailed as exc:
                self._force = True  # the detail, read again once the database answers, brings the window
                self._lost(exc)
                continue
            try:
                # Before the hold: a frozen screen or an open dialog still alerts.
                seq = self._alert_step()
            except ReadFailed as exc:
                self._lost(exc)
                continue
            if first is None and self._host.holds_still():
                # Frozen by the operator, or a dialog is open: nothing moves under it. The dialog's own
                # job is watched: it may end, or be deleted, while the operator reads the question.
                try:
                    self._dialog_step()
                    self._bar_step(seq)
                except ReadFailed as exc:
                    self._lost(exc)
                continue
            try:
                if first is None and self._nothing_new(seq):
                    continue
            except ReadFailed as exc:
                self._lost(exc)
                continue
            try:
                # Widget state is read on the UI thread; the worker only ever touches the database.
                view = None if first is not None else self._ui(self._host.view_state)
            except Exception:  # the app is closing
                return
            try:
                if first is not None:
                    fetched, tree = first.result(), None
                else:
                    assert view is not None
                    fetched = self._fetch(view)
                    tree = self._fetch_tree(view.envelope_id) if view.envelopes else None
            except ReadFailed as exc:  # a locked or unreachable database must not kill the screen
                self._lost(exc)
                continue
            if self._unreachable:
                self._unreachable = False
                self._ui(self._host.db_back)
            if isinstance(fetched, LogChunk):
                self._ui(self._host.append_log, fetched.text)
            elif fetched is not None:
                self.rows_drawn.clear()
                self._ui(self._host.install, fetched)
                if fetched.detail_needed and fetched.detail_id is not None:
                    # Let the rows reach the screen first: reading a detail is mostly Python, and while
                    # this thread holds the interpreter lock the UI thread gets it back only at switch
                    # intervals, which would hold the rows' frame back until the detail is read.
                    self.rows_drawn.wait(0.25)
                    try:
                        self._detail_step(fetched)
                    except ReadFailed as exc:
                        self._force = True  # read it again once the database answers
                        self._lost(exc)
                        continue
            if tree is not None:
                self._ui(self._host.install_tree, tree)

    def _alert_step(self) -> int | None:
        """Hand the screen the jobs that entered an alerting status since the last look; the feed's last
        seq it read (None with alerts off), for the idle check to use rather than read it again."""
        statuses = self._host.alert_statuses()
        if not statuses:
            return None
        seq = self._listing.last_seq()
        after, self._alert_seq = self._alert_seq, seq
        if after is not None and seq != after:
            entered = self._listing.entered(statuses, after, self._opened_at)
            if entered:
                self._ui(self._host.alert, entered)
        return seq

    def _dialog_step(self) -> None:
        """Tell the open dialog how its job stands now, when that changed since the last look."""
        job_id = self._host.dialog_job()
        if job_id is None:
            self._dialog_seen = None
            return
        row = self._listing.rows_by_id([job_id]).get(job_id)
        now = (job_id, row.status if row else None, row.step if row else None)
        if now != self._dialog_seen:
            self._dialog_seen = now
            self._ui(self._host.dialog_subject_now, *now)

    def _lost(self, exc: ReadFailed) -> None:
        """Worker thread: the database did not answer; say so once, until it is back."""
        if not self._unreachable:
            self._unreachable = True
            self._ui(self._host.db_lost, exc)

    def _fetch(self, view: ViewState) -> Fetched | LogChunk | None:
        visible, top, cursor = view.visible, view.top, view.cursor
        listing = self._listing
        seq = listing.last_seq()
        want = self._want_window
        force, moved = self._force, self._moved
        if seq == self._seen_seq and want is None and not force and not moved and not self._bar_waits(seq):
            chunk = self._read_shown_log()
            return LogChunk(chunk) if chunk else None
        self._force = self._moved = False
        self._want_window = None
        # Read after the flags are taken: a filter changed from here on asks for the next fetch.
        query = self._host.job_query()
        selected = view.selected
        counted = self._counted
        if force or counted is None or counted[:2] != (query.filter, seq):
            counted = self._counted = (query.filter, seq, listing.count(query.filter))
        total = counted[2]
        position = listing.position_of(query.filter, query.order, selected) if selected is not None else None
        if position is not None and not top <= position < top + visible:
            top = max(0, position - visible // 2)
        start = max(0, top - visible)
        if want is not None and position is None:
            start = want[0]
        rows = listing.window(query.filter, query.order, start, visible * 3)
        bar = self._read_bar(query) if force or self._bar_waits(seq) else None
        detail_id = selected if position is not None else None
        if detail_id is None and rows:
            # The selected job is filtered out or gone (or none was chosen yet): the pane follows the row
            # now under the cursor, never an invisible job.
            index = min(cursor, total - 1) if total else 0
            row = rows[index - start] if 0 <= index - start < len(rows) else None
            detail_id = row.id if row else None
        if view.envelopes:
            # The job keys act on the job under the tree's cursor: the pane shows it (none on an envelope).
            detail_id = view.tree_job
        row_seq = next((row.seq for row in rows if row.id == detail_id), None)
        log_chunk = ""
        needed = detail_id is not None and (force or row_seq is None or (detail_id, row_seq) != self._shown)
        if detail_id is not None and not needed:
            # The shown job did not change: its detail, audit and allowed actions stand; only its log
            # may have grown. (The refresh is a hot path: other jobs' changes must not re-read this one.)
            log_chunk = self._read_shown_log()
        self._seen_seq = seq
        if bar is not None:
            # Only now: a read failing after the counts' (the log's) leaves them to be read again.
            self._bar_seq = seq
        self._row_seq = row_seq
        return Fetched(total, start, rows, position, bar, detail_id, needed, seq, log_chunk, view.moves)

    def _bar_waits(self, seq: int) -> bool:
        """Whether the header's counts are older than the feed (at `seq`) and may be read again now."""
        return seq != self._bar_seq and (
            self._monotonic() - self._bar_read_at >= self._bar_cost_s * BAR_GAP_PER_READ_S
        )

    def _read_bar(self, query: Query) -> BarState:
        """The header's counts and flags, as they stand (the caller records at which feed seq, once it
        has them installed or on their way)."""
        listing = self._listing
        started = self._monotonic()
        paused, reason = listing.queue_flags()
        counts = listing.status_counts(query.filter.show_system)
        bar = BarState(
            queue_paused=paused,
            queue_reason=reason,
            counts=counts,
            shown=listing.shown_counts(query.filter),
            # Read once: with system jobs shown, the counts already hold every job needing a person.
            attention=listing.attention_count(counts if query.filter.show_system else None),
            unserved=0 if query.engine_serving else waiting(listing, self._backend.now()),
            user=self._backend.actor.user,
            database=self._db_label,
            engine=query.engine_label,
            frozen=query.frozen,
            readonly=self._readonly,
        )
        self._bar_read_at = self._monotonic()
        self._bar_cost_s = self._bar_read_at - started
        return bar

    def _bar_step(self, seq: int | None) -> None:
        """Under a dialog (or the log viewer) the table holds still, but the header it leaves in sight
        goes on counting, as its "live" says: a job that became trapped meanwhile counts as needing
        attention there while the alert says so. A screen the operator froze holds its header too."""
        query = self._host.job_query()
        if query.frozen:
            return
        if seq is None:
            seq = self._listing.last_seq()
        if self._bar_waits(seq):
            self._ui(self._host.install_bar, self._read_bar(query))
            self._bar_seq = seq

    def _detail_step(self, fetched: Fetched) -> None:
        """Read and install the detail `fetched` asked for, unless the cursor moved on meanwhile (the fetch
        those moves asked for will read the right job)."""
        if fetched.moves != self._host.table_moves():
            self._shown = (None, None)
            return
        assert fetched.detail_id is not None
        # Rows keep coming meanwhile (a held key must not wait for SQLAlchemy to import); the detail is
        # read once the Store is open (`store_opened` asks for it). Flagged first, so that a Store opening
        # in between still finds the flag.
        self._detail_waits = True
        if not self._backend.is_open:
            self._shown = (None, None)
            return
        self._detail_waits = False
        try:
            with self._backend.reading():
                detail = self.fetch_detail(fetched.detail_id)
        except CorruptRow as problem:
            # A row changed outside jobtui: said once (until it or the cursor changes), not every poll.
            self._shown = (fetched.detail_id, self._row_seq)
            self._ui(self._host.row_unreadable, problem)
            return
        self._shown = (fetched.detail_id, self._row_seq) if detail is not None else (None, None)
        if detail is not None:
            self._ui(self._host.install_detail, detail, fetched.moves)

    def _tasks_step(self) -> None:
        """Read and install the window of tasks the pane's tasks table asked for, if any."""
        want, self._want_tasks = self._want_tasks, None
        if want is None or not self._backend.is_open:
            return  # (the pane shows no tasks before the Store is open)
        job_id, start, size = want
        with self._backend.reading():
            window = self._backend.reads.task_window(job_id, start, size, self._lang)
        if window is not None:
            self._ui(self._host.install_tasks, window)

    def _fetch_tree(self, envelope_id: int | None) -> TreeFetched | None:
        """Re-read the tree when the feed moved, and whether the envelope under the cursor may be rolled
        back when either the feed or that envelope changed; None when neither did."""
        if not self._backend.is_open:
            return None  # read once it is (`store_opened`): rows keep coming meanwhile
        seq = self._listing.last_seq()
        reload = self._tree_force or seq != self._tree_seq
        if not reload and envelope_id == self._checked_envelope:
            return None
        self._tree_force = False
        self._tree_seq = seq
        self._checked_envelope = envelope_id
        data = self.load_tree() if reload else None
        refusals: dict[str, str | None] = {}
        if envelope_id is not None and not self._readonly:
            with self._backend.reading():
                refusals = self._host.envelope_refusals(envelope_id)
        return TreeFetched(data, envelope_id, refusals)

    def _read_shown_log(self) -> str:
        if self._shown_log is None:
            return ""
        # From the database (any host's engine ships there), on this worker thread: the widget gets text.
        try:
            with self._backend.reading():
                chunk, _reset = self._log_tail.read(self._shown_log, self._backend.reads)
        except Refusal:  # no longer viewable (the policy changed): the next detail read empties the pane
            return ""
        return chunk

    def fetch_detail(self, job_id: int) -> JobDetail | None:
        """The pane's detail of a job, and its log from where the pane's log stands (inside
        `backend.reading()`; the UI thread calls it too, and then `forget_shown`)."""
        shown_job, first_task = self._tasks_at
        pane = self._backend.reads.pane(job_id, self._lang, first_task if shown_job == job_id else 0)
        if pane is None:
            return None
        self._shown_log = job_id
        chunk, reset = self._log_tail.read(job_id, self._backend.reads)
        allowed = {} if self._readonly else self._backend.actions.allowed(job_id)
        return JobDetail(pane.job, pane.audit, pane.now, chunk, reset, allowed)


__all__ = ["Fetched", "LogChunk", "Poller", "PollerHost", "Query", "TreeFetched", "ViewState"]
