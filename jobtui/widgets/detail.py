"""The detail pane: everything about the selected job — dates, trap countdown, tasks, the selected
task's steps, a log tail that follows new output until the operator scrolls up, and the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pendulum
from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Log, Static, TabbedContent, TabPane

from jobtui.engine.domain.envelopes import EnvelopeStatus
from jobtui.engine.domain.states import TaskStatus
from jobtui.engine.domain.text import trapped_op_text, visible
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.domain.windows import WEEKDAYS, parse_days
from jobtui.engine.service.envelope_tree import EnvelopeLine, JobStats
from jobtui.i18n import (
    audit_row_action_text,
    audit_status_text,
    audit_who_text,
    count_text,
    envelope_status_text,
    op_status_text,
    relative_time,
    t,
    task_status_text,
    type_text,
)
from jobtui.widgets.status_style import progress_text, status_text
from jobtui.widgets.task_table import TaskTable

if TYPE_CHECKING:
    from jobtui.engine.service.reads import TaskWindow

Cell = str | Text
# Where a task stands first (seed 003: its status, step and progress), then when it last ran, how often it
# was tried and when it is tried again: what an operator reads a RESCHEDULED task for. The table has the
# pane's width right of the info block (monitor.tcss), and its cells are short (a 5-cell bar, the next
# attempt as "in 4 min"), so at 160 columns a typical job's tasks show every column without scrolling.
TASK_COLUMNS = ("target", "status", "current_step", "progress", "last_triggered", "attempts", "next_attempt")
TASK_BAR = 5  # the tasks' progress bars, half the job table's: the percentage beside it is exact
COLUMN_KEYS: dict[str, tuple[str, ...]] = {
    # How long it took and how it exited before its three dates (seed 003's Started, Skipped and Completed
    # At): beside the log, at 160 columns the dates pushed Took and Exit out of sight.
    "#steps-table": (
        "step_name",
        "pipeline_step",
        "status",
        "duration",
        "exit",
        "started",
        "skipped",
        "completed",
    ),
    "#audit-table": ("at", "who", "action", "transition", "comment"),
}


@dataclass
class JobDetail:
    """Everything the pane shows, fetched off the UI thread in one go."""

    job: dict[str, Any]
    audit: list[dict[str, Any]]
    fetched_at: pendulum.DateTime
    log_chunk: str = ""
    log_reset: bool = False
    allowed: dict[str, str | None] = field(default_factory=dict)

    def trap_left_s(self, now: pendulum.DateTime) -> float | None:
        """Seconds before the trap's timeout action fires, at `now`: the detail is read only when the job
        changes, and a trap that waits changes nothing, so the time left it was read with grows stale."""
        trap = self.job.get("trap")
        if not trap or trap["timeout_left_s"] is None:
            return None
        left = float(trap["timeout_left_s"])
        if trap["paused"]:
            return left
        return max(0.0, left - (now - self.fetched_at).total_seconds())


def relative(when: pendulum.DateTime | None, now: pendulum.DateTime, lang: str) -> str:
    """ "in 2 h 59 min", "3 d 4 h ago" (in `lang`); empty without a date."""
    return "" if when is None else relative_time((when - now).total_seconds(), lang)


DATE_LABEL_WIDTH = 14  # the info block's dates line up after their labels
NO_JOB = object()  # DetailPane._blank: the pane says no job is selected
INFO_WIDTH = 44  # the info block's lines: #detail-info-scroll's width in monitor.tcss less its padding


def when_text(value: str | None, now: pendulum.DateTime, tz: str, lang: str = "en", room: int = 0) -> str:
    """A date of the info block and how far it is: "2026-11-23 12:59:00 (in 2 h 59 min)", or "-".

    With `room` (the cells left on its line), how far it is goes on a line of its own, under the date, when
    it does not fit: the block is narrow, and wrapped by the terminal it broke mid-phrase ("(in 2 h 59" at
    the end of a line, "min)" at the start of the next, where a label belongs).
    """
    if not value:
        return "-"
    when = pendulum.parse(value)
    assert isinstance(when, pendulum.DateTime)
    date, how_far = when.in_timezone(tz).format("YYYY-MM-DD HH:mm:ss"), f"({relative(when, now, lang)})"
    if room and cell_len(date) + 1 + cell_len(how_far) > room:
        return f"{date}\n{' ' * DATE_LABEL_WIDTH}{how_far}"
    return f"{date} {how_far}"


def days_text(days: Sequence[str]) -> str:
    """Weekdays as people write them: "mon–fri", "mon, wed, fri", or "" when every day is allowed."""
    try:
        chosen = parse_days(list(days))
    except ValueError:
        return ", ".join(days)  # the engine accepted it; show it as stored rather than hide it
    if len(chosen) in (0, len(WEEKDAYS)):
        return ""
    # Start right after a day off, so a run across the week's end reads "sat–mon", not "mon, sat, sun".
    first = next(day for day in sorted(chosen) if (day - 1) % 7 not in chosen)
    runs: list[list[int]] = []
    for offset in range(7):
        day = (first + offset) % 7
        if day not in chosen:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAYS[run[0]]}–{WEEKDAYS[run[-1]]}")
        else:  # "sat, sun" reads better than a two-day range
            parts.extend(WEEKDAYS[day] for day in run)
    return ", ".join(parts)


def _short_when(value: str, now: pendulum.DateTime, tz: str, lang: str) -> str:
    # Minutes are enough inside a sentence; the dates block above has the seconds.
    when = _parse(value)
    if when is None:
        return value
    return f"{when.in_timezone(tz).format('YYYY-MM-DD HH:mm')} ({relative(when, now, lang)})"


def schedule_text(schedule: dict[str, Any] | None, now: pendulum.DateTime, tz: str, lang: str) -> str | None:
    """One line for the `schedule` of `job_detail_json`; None for jobs stored without one."""
    if schedule is None:
        return None
    expires = schedule["expires"]
    until = _short_when(expires, now, tz, lang) if expires else ""
    every = schedule["retry_every"]
    # Mirrors JobSchedule.retries: a retry period without an expiry never retries.
    retries = every != "0s" and expires is not None
    if schedule["mode"] == "window":
        window = schedule["window"]
        span = f"{window['from']}–{window['to']}" if window else t("detail.all_day", lang)
        words = [t("detail.window", lang), span, days_text(schedule["days"]), f"({schedule['timezone']})"]
        parts = [" ".join(word for word in words if word)]
        if retries:
            parts.append(t("detail.retry_every", lang, every=every))
        if expires:
            parts.append(t("detail.expires", lang, when=until))
        return " · ".join(parts)
    if expires is None:
        # A classic job (no seed-003 keys): it runs at its RUN date and fails at once; say only that.
        mode = t("detail.schedule_now", lang)
        return f"{t('detail.schedule', lang)}: {mode} · {t('detail.no_retries', lang)}"
    head = t("detail.fire_and_forget", lang)
    if retries:
        return f"{head} · {t('detail.retry_every', lang, every=every)} {t('detail.until', lang, when=until)}"
    return f"{head} · {t('detail.no_retries', lang)} · {t('detail.expires', lang, when=until)}"


# The commands an envelope's hint names, in its order: those that act on the envelope on its own line.
ENVELOPE_HINT_COMMANDS = ("rollback", "cancel", "notifications")
CANCELLABLE_ENVELOPES = frozenset({EnvelopeStatus.SUCCESS_ACTIVE, EnvelopeStatus.ERRORS_ACTIVE})


class DetailPane(Vertical):
    """Starts as an empty box: its twenty-odd widgets are built by `build`, once the job table is on
    screen. Until then what it is asked to show waits (`detail` is what the operator sees: None)."""

    ALLOW_MAXIMIZE = True  # `Z` fills the screen with it, from any of its parts

    def __init__(
        self,
        lang: str = "en",
        tz: str = "UTC",
        keys_in_force: Callable[[], dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lang = lang
        self.tz = tz
        # Command id -> the keys that run it now (after keys.toml; none for what the dashboard hides): the
        # envelope's hint names those, not the default keys.
        self._keys_in_force = keys_in_force or dict
        self.detail: JobDetail | None = None  # the job the keys act on (shown once the widgets are built)
        self.shown: JobDetail | None = None  # the job the widgets show (tests wait for it)
        self._job_steps: list[dict[str, Any]] = []  # the shown job's steps that belong to no one task
        self._built = False  # asked to build: compose() yields the widgets
        self._ready = False  # they are mounted
        self._pending: JobDetail | None = None
        self._pending_envelope: tuple[EnvelopeLine, dict[int, JobStats]] | None = None
        self._last_info: tuple[str, tuple[Any, ...]] | None = None
        self._table_content: dict[str, tuple[tuple[Any, ...], ...]] = {}  # what each table shows
        self._steps_title = t("detail.steps", lang)
        self._steps_running = False  # the steps table shows a running op: its time moves every second
        self._tasks_title = t("detail.tasks", lang)
        # What the widgets show while no job is shown: NO_JOB, or the envelope and its jobs' stats. The
        # poller asks for the same again at each pass; drawing it anew laid the whole screen out twice.
        self._blank: object = None

    def build(self) -> None:
        if not self._built:
            self._built = True
            self.call_later(self._build)

    async def _build(self) -> None:
        self._blank = None
        await self.recompose()
        self._ready = True
        pending, self._pending = self._pending, None
        envelope, self._pending_envelope = self._pending_envelope, None
        if pending is not None:
            self.show(pending)
        elif envelope is not None:
            self.show_envelope(*envelope)
        else:
            self.show_empty()

    def compose(self) -> ComposeResult:
        if not self._built:
            return
        # A grid (monitor.tcss): the info block down the left; the tasks across the rest, their every
        # column in view, over the selected task's steps and the log; below 120 columns, no log.
        with Grid(id="detail-top"):
            # Scrolls: a windowed job with a trap and a reason has more lines than the pane is tall.
            with VerticalScroll(id="detail-info-scroll"):
                yield Static(id="detail-info")
            with Vertical(id="detail-tasks"):
                yield Label(t("detail.tasks", self.lang), classes="pane-title", id="tasks-title")
                yield TaskTable(id="tasks-table")
            with Vertical(id="detail-steps"):
                yield Label(t("detail.steps", self.lang), classes="pane-title", id="steps-title")
                yield DataTable(id="steps-table", cursor_type="row", zebra_stripes=True)
            with TabbedContent(id="detail-tabs"):
                with TabPane(t("detail.log", self.lang), id="tab-log"):
                    yield Log(id="log-tail", max_lines=5000, auto_scroll=True)
                with TabPane(t("detail.audit", self.lang), id="tab-audit"):
                    yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)

    def _reset(self, table_id: str, rows: Sequence[Sequence[Cell]] = ()) -> DataTable[Any]:
        """Refill a table, columns included: widths then fit only the job shown, not the jobs shown before.

        The widths are given here rather than left to DataTable, which measures rows when idle but keeps
        lines it painted before that: a cell wider than its header stayed cut ("RESCHE") until the next
        change of the table.
        """
        table: DataTable[Any] = self.query_one(table_id, DataTable)
        # The shown job is read again whenever it changes (its progress, many times a minute): a table
        # whose rows did not change is left alone, as clearing one costs a layout and a repaint.
        content = tuple(tuple(_cell_key(cell) for cell in row) for row in rows)
        if self._table_content.get(table_id) == content:
            return table
        self._table_content[table_id] = content
        table.clear(columns=True)
        for index, key in enumerate(COLUMN_KEYS[table_id]):
            label = t(f"col.{key}", self.lang)
            width = max([cell_len(label), *(_cell_width(row[index]) for row in rows)])
            table.add_column(label, key=key, width=width)
        for row in rows:
            # A string in a DataTable cell is read as markup: data (targets, op names, comments) goes in
            # as Text, control characters shown.
            table.add_row(*(_plain(cell) for cell in row))
        return table

    def show_empty(self) -> None:
        if self._blank is NO_JOB and self.detail is None:
            return
        self.detail = self.shown = None
        self._pending = None
        self._pending_envelope = None
        if not self.is_built:
            return
        self._blank = NO_JOB
        self._last_info = None
        self.query_one("#detail-info", Static).update(t("monitor.no_job_selected", self.lang))
        self._job_steps = []
        for table_id in COLUMN_KEYS:
            self._reset(table_id)
        self.query_one(TaskTable).clear(self._task_labels())
        self._set_tasks_title(t("detail.tasks", self.lang))
        self._set_steps_title(t("detail.steps", self.lang))  # no task's target left from the last job
        self.query_one("#log-tail", Log).clear()

    def show_envelope(self, envelope: EnvelopeLine, stats: dict[int, JobStats]) -> None:
        """An envelope (its line under the envelope tree's cursor): its status, and its jobs in chain order
        with their statuses, progress and ops; the tables and the log are a job's, so they stay empty."""
        if self._blank == (envelope, stats) and self.detail is None:
            return
        self.show_empty()
        if not self.is_built:
            self._pending_envelope = (envelope, stats)  # shown once the pane's widgets are there
            return
        lang = self.lang
        text = Text()
        text.append(f"{t('detail.envelope', lang)} #{envelope.id} {visible(envelope.name)}", style="bold")
        text.append(f"  {t('detail.project', lang)} {visible(envelope.project)}\n")
        text.append(envelope_status_text(envelope.status, lang), style="bold")
        jobs = count_text(len(envelope.jobs), "job", lang)
        text.append(f" · {t('detail.envelope_jobs', lang, jobs=jobs)}\n")
        if envelope.reason:
            reason = visible(envelope.reason, keep=chr(10))
            text.append(f"{t('detail.reason', lang)}: {reason}\n", style="italic")
        for number, job in enumerate(envelope.jobs, 1):
            counts = stats.get(job.id, JobStats())
            text.append(f"{number:>2}. #{job.id} {visible(job.name)}  ")
            text.append_text(status_text(job.status, lang))
            text.append(f"  {job.progress}%  ")
            facts = {
                "tasks": count_text(counts.tasks, "task", lang),
                "ops": count_text(counts.ops, "op", lang),
                "done": counts.done,
                "failed": counts.failed,
            }
            text.append(t("tree.job_stats", lang, **facts), style="dim")
            text.append("\n")
        text.append(self._envelope_hint(envelope.status), style="dim")
        self._last_info = None
        self.query_one("#detail-info", Static).update(text)
        self._blank = (envelope, stats)

    def _envelope_hint(self, status: str) -> str:
        """What the keys do on an envelope's line, by the keys that do it now. Not `c` on an envelope whose
        jobs all ended, or one cancelled or rolled back (EnvelopeActions refuses it: nothing is left to
        cancel); whether it may be rolled back depends on the rest of its project's stack."""
        keys = self._keys_in_force()
        parts = [t("detail.envelope_hint", self.lang)]
        for command_id in ENVELOPE_HINT_COMMANDS:
            if command_id == "cancel" and status not in CANCELLABLE_ENVELOPES:
                continue
            if command_id in keys:
                parts.append(t(f"detail.envelope_hint.{command_id}", self.lang, keys=keys[command_id]))
        return " · ".join(parts)

    @property
    def is_built(self) -> bool:
        """The pane's widgets are there to fill: mounted, and not being removed with a closing app (the
        poller's last results may arrive while they go)."""
        return self._ready and self.is_attached and not (self._pruning or self._closing)

    def show(self, detail: JobDetail) -> None:
        self._pending_envelope = None
        self._blank = None
        if not self.is_built:
            pending = self._pending
            if pending is not None and pending.job["id"] == detail.job["id"] and not detail.log_reset:
                # A newer read of the same job carries only the output since the last: keep the earlier.
                detail = replace(
                    detail, log_chunk=pending.log_chunk + detail.log_chunk, log_reset=pending.log_reset
                )
            self._pending = detail
            # The job keys act on it already: a key pressed in the moment before the pane's widgets are
            # there (just after the first paint) said "No job selected" under a selected job.
            self.detail = detail
            return
        previous = self.shown
        same_job = previous is not None and previous.job["id"] == detail.job["id"]
        self.detail = self.shown = detail
        if not same_job:
            # Where the info block was scrolled to was in the last job's lines: another job's starts at its
            # top, where its name and status say which job an action would apply to.
            self.query_one("#detail-info-scroll", VerticalScroll).scroll_home(animate=False, immediate=True)
        # The job's list repeats the rollbacks of task ops; keep only the ops no task lists.
        of_tasks = {_step_key(step) for task in detail.job["tasks"] for step in task["steps"]}
        self._job_steps = [step for step in detail.job.get("steps", []) if _step_key(step) not in of_tasks]
        self.refresh_info()
        self._fill_tasks(detail)
        self._fill_steps()
        self._fill_audit(detail)
        if detail.log_reset or not same_job:
            self.query_one("#log-tail", Log).clear()
        self.append_log(detail.log_chunk, follow=detail.log_reset)

    def append_log(self, chunk: str, follow: bool = False) -> None:
        if not chunk:
            return
        if not self.is_built:
            if self._pending is not None:
                self._pending.log_chunk += chunk
            return
        log = self.query_one("#log-tail", Log)
        # Follow new output only while the operator is at the bottom; scrolling up stops following.
        log.write(chunk, scroll_end=log.is_vertical_scroll_end or follow)

    def refresh_info(self, now: pendulum.DateTime | None = None) -> None:
        """Redraw the info block; called every second too, so durations and countdowns move."""
        if self.detail is None or not self.is_built:
            return
        job = self.detail.job
        if now is None:
            now = self.detail.fetched_at
        lang, tz = self.lang, self.tz
        # The cells a line of the block holds; before its first layout, what monitor.tcss gives it.
        width = self.query_one("#detail-info", Static).size.width or INFO_WIDTH
        text = Text()
        v = visible
        text.append(f"#{job['id']} {v(job['name'])}", style="bold")
        text.append(
            f"  [{v(type_text(job['type'], lang))}]  {t('detail.project', lang)} {v(job['project'])}\n"
        )
        text.append_text(status_text(job["status"], lang))
        if job.get("status_since"):
            since = pendulum.parse(job["status_since"])
            assert isinstance(since, pendulum.DateTime)
            # Whole seconds: "Expired for 0.12s" is noise where the age of a status is meant.
            age = round(max(0.0, (now - since).total_seconds()))
            text.append(f"  {t('detail.for', lang)} {format_duration(age)}")
        text.append(
            f"   {t('detail.step', lang)} {v(job['step'])}   {t('detail.exec', lang)} {job['exec']}\n"
        )
        text.append_text(progress_text(job["progress"], width=20))
        text.append("\n")
        if job.get("replaced_by") is not None:
            text.append(f"{t('detail.replaced_by', lang, job=job['replaced_by'])}\n", style="bold")
        if job.get("reason"):
            text.append(f"{t('detail.reason', lang)}: {v(job['reason'], keep=chr(10))}\n", style="italic")
        trap = job.get("trap")
        if trap:
            left = self.detail.trap_left_s(now)
            if left is None:  # no timeout: "time left waits forever" read as a countdown stuck
                countdown = t("detail.trap_forever", lang)
            elif trap["paused"]:
                countdown = (
                    f"{t('detail.time_left', lang)} {format_duration(left)} ({t('detail.paused', lang)})"
                )
            else:
                countdown = f"{t('detail.time_left', lang)} {format_duration(left)}"
            # A trapped job whose op row is gone (deleted by hand) still shows.
            op_name = v(trapped_op_text(trap) or "-")
            text.append(
                f"{t('detail.trap', lang)}: {op_name} — {countdown}\n",
                style="bold yellow",
            )
        natures = v(", ".join(job["natures"])) or "-"
        text.append(f"{t('detail.natures', lang)}: {natures}\n")
        for key in (
            "scheduled_at",
            "next_run_at",
            "max_start_at",
            "expires_at",
            "started_at",
            "ended_at",
            "created_at",
        ):
            if key == "expires_at" and not job.get(key):
                continue  # only seed-003 jobs expire; a dash on every classic job would be noise
            label = f"{t(f'detail.{key}', lang):<{DATE_LABEL_WIDTH}}"
            text.append(label, style="dim")
            room = max(0, width - cell_len(label))
            text.append(f"{when_text(job.get(key), now, tz, lang, room)}\n")
        schedule = schedule_text(job.get("schedule"), now, tz, lang)
        if schedule:
            text.append(f"{v(schedule)}\n")
        if job["status"] == "APPROVAL":  # who may approve it (a user who may not is told only that)
            listed = ", ".join(v(name) for name in job.get("approvers") or ())
            key = "detail.approvers" if listed else "detail.approvers_any"
            text.append(f"{t(key, lang, who=listed)}\n")
        envelope = job["envelope"] or "-"
        text.append(
            f"{t('detail.owner', lang)}: {v(job['owner'])}   {t('detail.envelope', lang)}: {envelope}"
        )
        # Called every second: a finished job's block rarely changes, and a layout pass costs more than
        # comparing the text. Same number of lines: the block keeps its size, no layout needed.
        # Same line lengths: the block wraps the same way and keeps its size, so no layout is needed.
        drawn = (text.plain, tuple(text.spans))
        last = self._last_info
        if last == drawn:
            return
        shape = [len(line) for line in text.plain.split("\n")]
        same_shape = last is not None and [len(line) for line in last[0].split("\n")] == shape
        self._last_info = drawn
        self.query_one("#detail-info", Static).update(text, layout=not same_shape)

    def _task_labels(self) -> list[str]:
        return [t(f"col.{key}", self.lang) for key in TASK_COLUMNS]

    def _task_cells(self, task: dict[str, Any], now: pendulum.DateTime) -> list[Text]:
        cells: list[Cell] = [
            task["target"],
            task_status_text(task["status"], self.lang),
            task["current_step"] or "-",
            progress_text(task["progress"], width=TASK_BAR),
            relative(_parse(task["last_triggered_at"]), now, self.lang) or "-",
            str(task["attempts"]),
            self._next_attempt(task, now),
        ]
        # Targets and op names are data: Text, control characters shown.
        return [_plain(cell) for cell in cells]

    def _fill_tasks(self, detail: JobDetail) -> None:
        job = detail.job
        tasks = job["tasks"]
        total = job.get("tasks_total", len(tasks))
        self._install_tasks(job["id"], total, job.get("tasks_start", 0), tasks, detail.fetched_at)
        title = t("detail.tasks_count", self.lang, total=_number(total, self.lang))
        self._set_tasks_title(title if total else t("detail.tasks", self.lang))

    def show_tasks(self, window: TaskWindow) -> None:
        """Install a window of the shown job's tasks that its tasks table asked for."""
        if not self.is_built or self.detail is None or self.detail.job["id"] != window.job_id:
            return
        if self._install_tasks(window.job_id, window.total, window.start, window.tasks, window.now):
            self._fill_steps()

    def _install_tasks(
        self, job_id: int, total: int, start: int, tasks: list[dict[str, Any]], now: pendulum.DateTime
    ) -> bool:
        """Whether the task under the cursor changed (its steps are to be shown again)."""
        table = self.query_one(TaskTable)
        before = table.selected_task() if table.job_id == job_id else None
        cells = [self._task_cells(task, now) for task in tasks]
        table.show_window(job_id, self._task_labels(), total, start, tasks, cells)
        return table.selected_task() != before

    def _set_tasks_title(self, title: str) -> None:
        if title != self._tasks_title:
            self._tasks_title = title
            # A pane title is one line of a fixed width (monitor.tcss): nothing to lay out again.
            self.query_one("#tasks-title", Label).update(title, layout=False)

    def _next_attempt(self, task: dict[str, Any], now: pendulum.DateTime) -> str:
        # A stale time on a task that already ran again would read as a retry still to come.
        when = _parse(task["next_attempt_at"]) if task["status"] == TaskStatus.RESCHEDULED else None
        # How far it is alone ("in 4 min 30 s"), which is what the operator waits on: the date is the
        # info block's Next run (the earliest task's), and beside it the column did not fit the pane.
        return "" if when is None else relative(when, now, self.lang)

    def on_task_table_task_highlighted(self, event: TaskTable.TaskHighlighted) -> None:
        event.stop()
        self._fill_steps()

    def tick(self, now: pendulum.DateTime) -> None:
        """Every second: durations and countdowns move, the tasks' "3s ago" and retry countdowns, and a
        running op's time in the steps table."""
        self.refresh_info(now)
        if not self.is_built:
            return
        table = self.query_one(TaskTable)
        if self.detail is not None and table.job_id == self.detail.job["id"]:
            table.redraw(lambda task: self._task_cells(task, now))
        if self._steps_running:
            self._fill_steps(now)

    def _set_steps_title(self, title: str) -> None:
        if title != self._steps_title:
            self._steps_title = title
            # A target is no markup; a pane title is one line of a fixed width (monitor.tcss).
            self.query_one("#steps-title", Label).update(Text(title), layout=False)

    def _fill_steps(self, now: pendulum.DateTime | None = None) -> None:
        self._steps_running = False
        if self.detail is None:
            self._reset("#steps-table")
            return
        steps = list(self._job_steps)
        # The task under the tasks table's cursor; none while its row is being fetched.
        task = self.query_one(TaskTable).selected_task()
        title = t("detail.steps", self.lang)
        if task is not None:
            steps += task["steps"]
            title = f"{title} — {visible(task['target'])}"
        self._set_steps_title(title)
        # In plan order (README: each op for every target, then the next op): a job-wide RUN op after the
        # task's per-target one that runs first, not before it as a sort by step alone left it.
        order = {"PRE": 0, "RUN": 1, "POST": 2, "ROLLBACK": 3}
        steps.sort(key=lambda s: (order.get(s["step"], 9), s.get("position", 0)))
        tz = self.tz
        now = now or self.detail.fetched_at
        self._steps_running = any(step["status"] == "running" for step in steps)
        rows = [
            (
                step["name"],
                step["step"],
                op_status_text(step["status"], self.lang),
                _took(step, now),
                "" if step["exit_code"] is None else str(step["exit_code"]),
                _clock(step["started_at"], tz),
                _clock(step["skipped_at"], tz),
                _clock(step["completed_at"], tz),
            )
            for step in steps
        ]
        self._reset("#steps-table", rows)

    def _fill_audit(self, detail: JobDetail) -> None:
        rows = []
        for row in reversed(detail.audit):
            lang = self.lang
            move = (
                f"{audit_status_text(row['from'], lang)} → {audit_status_text(row['to'], lang)}"
                if row["from"] != row["to"] and not row.get("refused")
                else ""
            )
            action = audit_row_action_text(row, lang)
            rows.append(
                (_clock(row["at"], self.tz), audit_who_text(row, lang), action, move, row["comment"] or "")
            )
        self._reset("#audit-table", rows)

    def current_job_id(self) -> int | None:
        """The job whose log the pane shows (the full log view `l` reads it)."""
        if self.detail is None:
            return None
        return int(self.detail.job["id"])


def _plain(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(visible(cell), no_wrap=True, end="")


def _step_key(step: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(step.items()))


def _number(value: int, lang: str) -> str:
    """20,000 in English, 20.000 in Spanish."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "es" else text


def _cell_key(cell: Cell) -> Any:
    return (cell.plain, tuple(cell.spans), str(cell.style)) if isinstance(cell, Text) else cell


def _cell_width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(visible(cell))


def _parse(value: str | None) -> pendulum.DateTime | None:
    if not value:
        return None
    parsed = pendulum.parse(value)
    return parsed if isinstance(parsed, pendulum.DateTime) else None


def _took(step: dict[str, Any], now: pendulum.DateTime) -> str:
    """How long an op ran; or has been running, against how long its last run took ("12s… of ~40s") or
    else its timeout ("12s… of 5m max")."""
    started = _parse(step["started_at"])
    if started is None:
        return ""
    ended = _parse(step["completed_at"])
    if ended is not None:
        return format_duration((ended - started).total_seconds())
    if step["status"] != "running":
        return ""
    so_far = f"{format_duration(max(0.0, (now - started).total_seconds()))}\u2026"
    previous = step.get("previous_took_s")
    if previous is not None:
        return f"{so_far} of ~{format_duration(previous)}"
    deadline = _parse(step.get("deadline_at"))
    if deadline is not None:
        return f"{so_far} of {format_duration((deadline - started).total_seconds())} max"
    return so_far


def _clock(value: str | None, tz: str) -> str:
    when = _parse(value)
    return "" if when is None else when.in_timezone(tz).format("MM-DD HH:mm:ss")
