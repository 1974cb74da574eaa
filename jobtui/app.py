"""The Textual application: opens the monitor, runs an embedded engine when no daemon serves the
database, and asks before quitting while the embedded engine has jobs in hand."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import select
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from jobtui.engine.actions import Actions
from jobtui.engine.models import WORKERS
from jobtui.engine.permissions import Actor
from jobtui.engine.store import Store
from jobtui.i18n import t
from jobtui.keymap import KeymapError, keymap_path, load_keymap
from jobtui.screens.monitor import MonitorScreen

if TYPE_CHECKING:
    from jobtui.engine.scheduler import Engine

DAEMON_FRESH_SECONDS = 30.0
# The embedded engine starts once the monitor's first rows are on screen, or after this long anyway.
ENGINE_START_LATEST_S = 1.0


def live_daemon_host(store: Store) -> str | None:
    """The host of a daemon serving this database (a fresh heartbeat, not stopped), if any. Core, not
    the ORM: this runs before the first paint, and the ORM's first query sets up every mapper."""
    fresh = store.now().subtract(seconds=DAEMON_FRESH_SECONDS)
    stmt = (
        select(WORKERS.c.host)
        .where(WORKERS.c.stopped_at.is_(None), WORKERS.c.heartbeat_at >= fresh)
        .order_by(WORKERS.c.heartbeat_at.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        host = conn.execute(stmt).scalar()
    return None if host is None else str(host)


class JobtuiApp(App[int]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "jobtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "request_quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        store: Store,
        actor: Actor,
        readonly: bool = False,
        lang: str = "en",
        embedded: bool | None = None,
        tz: str | None = None,
        db_label: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.actions = Actions(store, actor)
        self.readonly = readonly
        self.lang = lang
        self.tz = tz
        self._embedded_choice = embedded
        self.db_label = db_label or store.url.replace(os.path.expanduser("~"), "~")
        self.engine: Engine | None = None
        self._engine_stop = threading.Event()
        self._engine_thread: threading.Thread | None = None
        self._embed = False  # no daemon serves the database: an engine runs in this process

    def on_mount(self) -> None:
        daemon = None if self._embedded_choice else live_daemon_host(self.store)
        if daemon is None and self._embedded_choice is not False:
            self._embed = True
            # Its start-up work (recovery, sweeps) would compete with the first paint for the one
            # interpreter lock: it waits for the first rows.
            self.set_timer(ENGINE_START_LATEST_S, self._start_engine)
            label = t("app.engine_embedded", self.lang)
        else:
            label = t("app.engine_daemon", self.lang, host=daemon or "?")
        monitor = MonitorScreen(
            self.actions, label, readonly=self.readonly, lang=self.lang, tz=self.tz, db_label=self.db_label
        )
        self.push_screen(monitor)
        self._apply_keymap(monitor)

    def on_monitor_screen_first_paint(self) -> None:
        self._start_engine()

    def _start_engine(self) -> None:
        if not self._embed or self._engine_thread is not None or self._engine_stop.is_set():
            return
        from jobtui.engine.scheduler import Engine

        self.engine = Engine(self.store)
        self._engine_thread = threading.Thread(
            target=self.engine.run, args=(self._engine_stop,), name="jobtui-engine", daemon=True
        )
        self._engine_thread.start()

    def _apply_keymap(self, screen: Screen[None]) -> None:
        ids = {b.id for b in [*self.BINDINGS, *screen.BINDINGS] if isinstance(b, Binding) and b.id}
        try:
            keymap = load_keymap(keymap_path(), ids)
        except KeymapError as exc:
            self.notify(str(exc), title=t("app.keymap_error", self.lang), severity="error", timeout=15)
            return
        if keymap:
            self.set_keymap(keymap)

    def action_request_quit(self) -> None:
        from jobtui.screens.dialogs import ConfirmDialog

        busy = self.engine.busy if self.engine is not None else 0
        if not busy:
            self.exit(0)
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.exit(0)

        self.push_screen(
            ConfirmDialog(
                t("app.quit.title", self.lang), None, t("app.quit.message", self.lang, n=busy), lang=self.lang
            ),
            done,
        )

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MonitorScreen):
            for binding in screen.BINDINGS:
                if (
                    isinstance(binding, Binding)
                    and binding.description
                    and screen.check_action(binding.action.split("(")[0], ())
                ):
                    action = binding.action
                    yield SystemCommand(
                        f"{binding.description} ({binding.key})",
                        t("app.palette_help", self.lang),
                        lambda action=action: self.run_action(action, screen),  # type: ignore[misc]
                    )

    def on_unmount(self) -> None:
        self._engine_stop.set()
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=5)


def run_app(store: Store, readonly: bool = False, lang: str | None = None, actor: Actor | None = None) -> int:
    import locale

    from jobtui.engine.permissions import load_policy

    if lang is None:
        current = os.environ.get("LC_ALL") or os.environ.get("LANG") or (locale.getlocale()[0] or "")
        lang = "es" if current.startswith("es") else "en"
    if actor is None:
        actor = Actor.resolve(load_policy(os.environ.get("JOBTUI_POLICY")))
    app = JobtuiApp(store, actor, readonly=readonly, lang=lang)
    return app.run() or 0


__all__ = ["JobtuiApp", "live_daemon_host", "run_app"]
