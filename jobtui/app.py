"""The Textual monitor. Reads the database; changes jobs only through engine actions."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, ClassVar

from sqlmodel import col, select
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Header, Static

from jobtui.engine.actions import Actions
from jobtui.engine.models import Job
from jobtui.engine.permissions import Actor
from jobtui.engine.scheduler import Engine
from jobtui.engine.states import status_label
from jobtui.engine.store import Store

COLUMNS = ("ID", "Job", "Type", "Project", "Status", "Step", "Progress", "Scheduled", "Owner")
PAGE = 500


class MonitorApp(App[int]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "jobtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("P", "toggle_queue", "Pause/resume queue"),
    ]

    def __init__(
        self, store: Store, actor: Actor, readonly: bool = False, lang: str = "en", embedded: bool = True
    ) -> None:
        super().__init__()
        self.store = store
        self.actions = Actions(store, actor)
        self.readonly = readonly
        self.lang = lang
        self.embedded = embedded
        self._seen_seq = -1
        self._stop = threading.Event()
        self._engine: Engine | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="queue-banner")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        if self.embedded:
            self._engine = Engine(self.store)
            threading.Thread(target=self._engine.run, args=(self._stop,), daemon=True).start()
        self.sub_title = f"{self.actions.actor.user} · {self.store.url} · engine: " + (
            "embedded" if self.embedded else "daemon"
        )
        self.refresh_jobs()
        self.set_interval(0.5, self.refresh_jobs)

    def refresh_jobs(self) -> None:
        seq = self.store.last_seq()
        if seq == self._seen_seq:
            return
        self._seen_seq = seq
        state = self.actions.queue_state()
        banner = self.query_one("#queue-banner", Static)
        banner.set_class(state.paused, "paused")
        banner.update(
            f"QUEUE {'PAUSED' if state.paused else 'RUNNING'}"
            + (f" — {state.reason}" if state.paused and state.reason else "")
            + f"   queued {state.queued} · running {state.running} · workers {state.workers}"
        )
        table = self.query_one(DataTable)
        with self.store.read() as s:
            jobs = list(s.exec(select(Job).order_by(col(Job.id).desc()).limit(PAGE)))
        selected = None
        if table.row_count and table.cursor_row is not None:
            selected = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        table.clear()
        for job in jobs:
            table.add_row(*self._cells(job), key=str(job.id))
        if selected is not None:
            # The selected job may have vanished; then the cursor stays where it is.
            with contextlib.suppress(Exception):
                table.move_cursor(row=table.get_row_index(selected))

    def _cells(self, job: Job) -> tuple[Any, ...]:
        when = job.scheduled_at.strftime("%Y-%m-%d %H:%M") if job.scheduled_at else "-"
        return (
            job.id,
            job.name,
            job.type,
            job.project,
            status_label(job.status, self.lang),
            job.step,
            f"{job.progress}%",
            when,
            job.owner,
        )

    def action_toggle_queue(self) -> None:
        if self.readonly:
            return
        try:
            if self.actions.queue_state().paused:
                self.actions.queue_resume()
            else:
                self.actions.queue_pause()
        except PermissionError as exc:
            self.notify(str(exc), severity="error")

    def on_unmount(self) -> None:
        self._stop.set()


def run_app(store: Store, readonly: bool = False, lang: str | None = None, actor: Actor | None = None) -> int:
    import locale
    import os

    from jobtui.engine.permissions import load_policy

    if lang is None:
        current = os.environ.get("LANG") or (locale.getlocale()[0] or "")
        lang = "es" if current.startswith("es") else "en"
    if actor is None:
        actor = Actor.resolve(load_policy(os.environ.get("JOBTUI_POLICY")))
    app = MonitorApp(store, actor, readonly=readonly, lang=lang)
    return app.run() or 0
