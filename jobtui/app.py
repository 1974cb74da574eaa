"""The Textual application: opens the monitor, runs an embedded engine when no daemon serves the
database, and asks before quitting while the embedded engine has jobs in hand."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

import pendulum
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingsMap, BindingType
from textual.command import CommandPalette
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.keys import Keys, _character_to_key, key_to_character
from textual.message import Message
from textual.notifications import Notify, SeverityLevel
from textual.screen import Screen
from textual.worker import get_current_worker

from jobtui.config import DEFAULT_VIEW, VIEWS, ConfigError, load_config, save_theme
from jobtui.crash import one_line, write_crash_log
from jobtui.engine.domain.alerting import AlertSettings
from jobtui.engine.domain.engine_kinds import DASHBOARD_ENGINE
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.reachability import Reachability
from jobtui.engine.domain.text import visible
from jobtui.engine.errors import ReadFailed
from jobtui.engine.read.engines import FRESH_HEARTBEAT_S
from jobtui.engine.read.listing import JobListing, WorkerBeat
from jobtui.engine.service.backend import Backend
from jobtui.engine.service.policy import PolicyChanged, policy_change
from jobtui.i18n import DEFAULT_LANG, count_text, t
from jobtui.keymap import KeymapError, keymap_path, load_keymap
from jobtui.screens.monitor import MonitorScreen
from jobtui.screens.palette import PaletteCommands, listed_commands
from jobtui.widgets.envelope_tree import EnvelopeTree
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.status_style import use_palette
from jobtui.widgets.statusbar import StatusBar
from jobtui.widgets.textual_fixes import keep_no_styles_cache_alive

# SQLAlchemy and the engine load after the first paint (backend.py); named here for type checking only.
if TYPE_CHECKING:
    from jobtui.engine.db.store import Store
    from jobtui.engine.worker.loop import Engine

log = logging.getLogger("jobtui.app")

keep_no_styles_cache_alive()

DAEMON_FRESH_SECONDS = FRESH_HEARTBEAT_S
# The embedded engine starts once the monitor's first rows are on screen, or after this long anyway.
ENGINE_START_LATEST_S = 1.0
# How long leaving the app waits for the embedded engine to hand its jobs back.
ENGINE_STOP_WAIT_S = 5.0
# The least a leaving dashboard waits to mark its engine stopped once the engine's thread has had its time.
MARK_STOPPED_WAIT_S = 0.5
# How often the dashboard looks again for a daemon: one stopped or killed while the dashboard is open must
# not leave jobs READY for long, and the read is one small query.
ENGINE_WATCH_S = 3.0


def live_daemon(
    listing: JobListing,
    now: pendulum.DateTime,
    exclude: str | None = None,
    fresh_s: float = DAEMON_FRESH_SECONDS,
) -> WorkerBeat | None:
    """The worker row of a daemon serving this database (a heartbeat under `fresh_s` old, not stopped, not a
    dead process on this host), if any; `exclude` is this dashboard's own embedded engine. Another
    dashboard's engine serves it too, while that dashboard is open: its kind says so. `fresh_s` is longer
    than DAEMON_FRESH_SECONDS by the time the dashboard itself could not reach the database lately: no
    heartbeat moved then, and every daemon comes back from an outage after its own backoff."""
    return listing.live_engine(now.subtract(seconds=fresh_s), exclude)


def live_daemon_host(listing: JobListing, now: pendulum.DateTime, exclude: str | None = None) -> str | None:
    """The host of that daemon."""
    found = live_daemon(listing, now, exclude)
    return None if found is None else found.host


# The header's words for another dashboard's engine, in place of a daemon's: it stops when that dashboard
# closes, and no operator should take it for a daemon.
_OTHER_DASHBOARDS = {
    "app.engine_daemon": "app.engine_dashboard",
    "app.engine_embedded_and_daemon": "app.engine_embedded_and_dashboard",
}


def serving_engine_label(key: str, lang: str, daemon: WorkerBeat) -> str:
    if daemon.kind == DASHBOARD_ENGINE:
        key = _OTHER_DASHBOARDS[key]
    return t(key, lang, host=daemon.host)


# Textual's system commands shown in another language than English: title → text key (`<key>_help` too).
TRANSLATED_SYSTEM_COMMANDS = {
    "Quit": "palette.quit",
    "Maximize": "palette.maximize",
    "Minimize": "palette.minimize",
}


# Toasts shown at once, the newest (older ones go early): fewer below SMALL_SCREEN_ROWS rows.
TOASTS_AT_MOST = 4
TOASTS_ON_A_SMALL_SCREEN = 2
SMALL_SCREEN_ROWS = 30


# Home, then erase the whole screen.
CLEAR_SCREEN = "\x1b[H\x1b[2J"


class BlankingTerminalDriver(LinuxDriver):
    """Textual's terminal driver, which blanks the alternate screen before leaving it (for the pager, `o`,
    or on quitting). tmux (3.3) reflows what the alternate screen still shows to the width it had when it
    was entered, and keeps the overflow: after a resize the dashboard's top rows were left in the shell's
    scrollback, or on its screen above the prompt."""

    def stop_application_mode(self) -> None:
        self.write(CLEAR_SCREEN)
        super().stop_application_mode()


class JobtuiApp(App[int]):
    # The screens' styles too, in the order their screens would add them: a screen whose CSS_PATH is not
    # read yet restyles every widget of the app as it opens (the first dialog of a session did).
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        "styles/app.tcss",
        "styles/monitor.tcss",
        "styles/dialogs.tcss",
    ]
    TITLE = "jobtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "request_quit", "Quit", id="quit"),
    ]
    # In place of Textual's provider of system commands: the same, and the monitor's refused commands.
    COMMANDS = {PaletteCommands}  # noqa: RUF012 (Textual types it so)

    class StoreOpened(Message):
        """The Store is open (error None), or opening it failed."""

        def __init__(self, error: BaseException | None) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        store: Store | Backend,
        actor: Actor,
        readonly: bool = False,
        lang: str = "en",
        embedded: bool | None = None,
        tz: str | None = None,
        db_label: str | None = None,
        view: str | None = None,
        alerts: AlertSettings | None = None,
    ) -> None:
        """`store`: an open Store, or a Backend that opens one after the first paint (run_app's). `view`:
        the view it opens on, "jobs" or "envelopes"; None reads it from the config file."""
        super().__init__()
        if view is not None and view not in VIEWS:
            raise ValueError(f'view must be "jobs" or "envelopes", not {view!r}')
        self.view = view
        self.alerts = alerts  # None: the config file's [alerts], else on for the default statuses
        self.backend = store if isinstance(store, Backend) else Backend.of_store(store, actor)
        self.readonly = readonly
        self.lang = lang
        self.tz = tz
        self._embedded_choice = embedded
        self.db_label = db_label or self.backend.label.replace(os.path.expanduser("~"), "~")
        self.failed: BaseException | None = None  # opening the Store failed: run_app says why
        self.engine: Engine | None = None
        self._engine_stop = threading.Event()
        # Set when a daemon serves the database again: the embedded engine finishes its ops in flight,
        # hands its jobs back and stops, as a daemon does on its first SIGTERM.
        self._engine_drain: threading.Event | None = None
        self._engine_thread: threading.Thread | None = None
        self._embed = False  # no daemon serves the database: an engine runs in this process
        # When this dashboard could reach the database: a daemon's heartbeat is stale only by that time.
        self._reach = Reachability()
        self._store_ready = False
        self._daemon: WorkerBeat | None = None  # the live daemon last seen
        self._stale: WorkerBeat | None = None  # a daemon seen earlier that serves the queue no more
        self._stale_as = "stale"  # why: listing.worker_left_as
        self._watch_stop = threading.Event()
        self.crash: BaseException | None = None  # the first unhandled error: run_app logs it
        self._asking_quit = False

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # Only the terminal's own driver: a browser's ($TEXTUAL_DRIVER, textual-serve) has no screen to blank.
        return BlankingTerminalDriver if driver is LinuxDriver else driver

    @property
    def store(self) -> Store:
        """The open Store (waits for it to open)."""
        return self.backend.store

    def on_mount(self) -> None:
        self._apply_saved_theme()
        now = self.backend.now()
        self._daemon = live_daemon(self.backend.listing, now)
        if self._daemon is None:  # one stopping says so, as one that stops while the dashboard is open does
            self._stale = self.backend.listing.stopping_daemon(now.subtract(seconds=DAEMON_FRESH_SECONDS))
            self._stale_as = "stopping"
        self._reach.reached(self.backend.elapsed())
        if self._embedded_choice or (self._daemon is None and self._may_embed):
            self._embed = True
        label = self.engine_label()
        # Opening the Store (and then the embedded engine's start-up: recovery, sweeps) would compete with
        # the first paint for the one interpreter lock: it waits for the first rows.
        self.set_timer(ENGINE_START_LATEST_S, self._open_store)
        monitor = MonitorScreen(
            self.backend,
            label,
            readonly=self.readonly,
            lang=self.lang,
            tz=self.tz,
            db_label=self.db_label,
            alerts=self._alert_settings(),
            engine_serving=self.engine_serving(),
        )
        self.push_screen(monitor)
        self._apply_keymap(monitor)
        if self._first_view() == "envelopes":
            monitor.call_after_refresh(monitor.action_view, "envelopes")
        self._watch_engine()

    @property
    def _may_embed(self) -> bool:
        # Read-only never runs jobs; `embedded=False` is the user saying a daemon (or nothing) runs them.
        return not self.readonly and self._embedded_choice is not False

    def engine_serving(self) -> bool:
        """Whether an engine runs this database's jobs: this app's, or a live daemon."""
        return self._embed or self._daemon is not None

    @property
    def handing_over(self) -> bool:
        """Whether the embedded engine is stopping for a daemon that serves the database again (it finishes
        the ops it has in flight first)."""
        drain = self._engine_drain
        return self._engine_thread is not None and drain is not None and drain.is_set()

    def engine_label(self) -> str:
        """The header's words for what runs this database's jobs."""
        lang, daemon, stale = self.lang, self._daemon, self._stale
        if not self._embed and daemon is not None and self.handing_over:
            return t("app.engine_handing_over", lang, host=daemon.host)
        if self._embed:
            if daemon is not None:
                return serving_engine_label("app.engine_embedded_and_daemon", lang, daemon)
            if stale is not None:
                return t(f"app.engine_embedded_{self._stale_as}", lang, host=stale.host)
            return t("app.engine_embedded", lang)
        if daemon is not None:
            return serving_engine_label("app.engine_daemon", lang, daemon)
        if stale is not None:
            return t(f"app.engine_none_{self._stale_as}", lang, host=stale.host)
        if self.readonly:
            return t("app.engine_none", lang)
        return t("app.engine_no_daemon", lang)

    @work(thread=True, exclusive=True, group="engine-watch")
    def _watch_engine(self) -> None:
        """Look for a live daemon every ENGINE_WATCH_S, off the UI thread: one that crashed, was killed or
        was stopped while the dashboard is open is replaced by the embedded engine, and the embedded engine
        gives way to a daemon that serves the database again. A heartbeat's age counts only the time the
        dashboard could reach the database: after an outage every heartbeat looks old."""
        worker = get_current_worker()
        while not self._watch_stop.wait(ENGINE_WATCH_S) and not worker.is_cancelled:
            engine = self.engine
            elapsed = self.backend.elapsed()
            fresh_s = elapsed - self._reach.window_start(elapsed, DAEMON_FRESH_SECONDS)
            try:
                now = self.backend.now()
                daemon = live_daemon(
                    self.backend.listing, now, engine.worker_id if engine is not None else None, fresh_s
                )
                gone = self._stale or self._daemon if daemon is None else None
                left_as = (
                    "stale"
                    if gone is None
                    else self.backend.listing.worker_left_as(gone.id, now.subtract(seconds=fresh_s))
                )
            except ReadFailed:
                self._reach.failed()
                continue  # the monitor says the database is unreachable; look again next time
            self._reach.reached(self.backend.elapsed())
            try:
                self.call_from_thread(self._daemon_seen, daemon, left_as)
            except RuntimeError:  # the app is closing
                return
            try:
                changed = policy_change(self.backend.listing.reader, self.backend.actor)
            except ReadFailed:
                continue  # unreadable now: asked again next time
            if changed is not None:
                with contextlib.suppress(RuntimeError):  # the app is closing anyway
                    self.call_from_thread(self._policy_changed, changed)
                return

    def _policy_changed(self, reason: str) -> None:
        """The database's stored policy changed under this dashboard: it closes rather than go on acting
        under the rules it opened with (run_app says why; the CLI exits 1)."""
        self.failed = PolicyChanged(
            f"jobtui: {reason}; open the dashboard again to work under the rules now in force"
        )
        self.exit(1, return_code=1)

    def _daemon_seen(self, daemon: WorkerBeat | None, left_as: str = "stale") -> None:
        self._reap_engine()
        self._stale_as = left_as
        if daemon is None and self._daemon is not None:
            # A dashboard that closed took its engine with it: nothing stale to tell.
            self._stale = self._daemon if self._daemon.kind != DASHBOARD_ENGINE else None
        elif daemon is not None:
            self._stale = None
        self._daemon = daemon
        if daemon is None and not self._embed and self._may_embed:
            self._embed = True
        elif (
            daemon is not None
            and daemon.kind != DASHBOARD_ENGINE
            and self._embed
            and not self._embedded_choice
        ):
            self._hand_over()
        if self._embed and self._store_ready:
            self._start_engine()  # unless it runs already (or the one handing over has yet to stop)
        label = self.engine_label()
        for screen in self.screen_stack:
            if isinstance(screen, MonitorScreen):
                screen.set_engine_label(label, self.engine_serving())

    def on_monitor_screen_first_paint(self) -> None:
        self._open_store()

    def _open_store(self) -> None:
        self.backend.open(lambda error: self.post_message(self.StoreOpened(error)))

    def on_jobtui_app_store_opened(self, message: StoreOpened) -> None:
        if message.error is not None:
            self.failed = message.error
            self.exit(2, return_code=2)
            return
        for screen in self.screen_stack:
            if isinstance(screen, MonitorScreen):
                screen.store_opened()
        self._store_ready = True
        self._start_engine()

    def _start_engine(self) -> None:
        if not self._embed or self.readonly or self._engine_thread is not None or self._engine_stop.is_set():
            return
        from jobtui.engine.worker.loop import Engine

        self.engine = Engine(self.store, kind=DASHBOARD_ENGINE)
        self._engine_drain = threading.Event()
        self._engine_thread = threading.Thread(
            target=self.engine.run,
            args=(self._engine_stop, self._engine_drain),
            name="jobtui-engine",
            daemon=True,
        )
        self._engine_thread.start()

    def _hand_over(self) -> None:
        """A daemon serves the database again: the embedded engine claims no more jobs, lets the ops in flight
        finish, hands its jobs back and stops (quitting the dashboard meanwhile would leave them to the
        daemon's sweep, which abends what runs on another host). One is started again should the daemon
        go."""
        self._embed = False
        if self._engine_drain is not None:
            self._engine_drain.set()
        if self.engine is not None:
            self.engine.wake()

    def _reap_engine(self) -> None:
        """Forget the embedded engine that stopped for a daemon: the next one is a new engine."""
        thread = self._engine_thread
        if thread is not None and not thread.is_alive() and self.handing_over:
            self._engine_thread = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast is plain text: what it says quotes data (refusals name jobs, engine errors quote
        names and targets), which must neither parse as markup (a "[/]" would crash the toast, a
        "[link=…]" make a hyperlink) nor reach the terminal as an escape sequence. `markup` is ignored:
        screens call `notify` with Textual's default (markup on), and no message of jobtui is markup."""
        super().notify(
            visible(str(message), keep="\n"),
            title=visible(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def _on_notify(self, event: Notify) -> None:
        """The newest toasts only, as many as the screen has room for beside what they cover: at 80x24 four
        stacked toasts hid half the job table, or a dialog's keys."""
        event.prevent_default()  # App's own handler would add it a second time
        self._notifications.add(event.notification)
        toasts = list(self._notifications)
        room = TOASTS_ON_A_SMALL_SCREEN if self.size.height < SMALL_SCREEN_ROWS else TOASTS_AT_MOST
        for old in toasts[: max(0, len(toasts) - room)]:
            del self._notifications[old]
        self._refresh_notifications()

    def _apply_saved_theme(self) -> None:
        """The theme the user last picked (the config file's `theme`); from then on each pick is kept."""
        try:
            saved = load_config().theme
        except ConfigError:
            saved = None  # told once, with the view's (_first_view)
        if saved is not None and saved in self.available_themes:
            self.theme = saved
        self.watch(self, "theme", self._keep_theme, init=False)
        self.watch(self, "theme", self._status_palette, init=True)

    def _status_palette(self, theme: str) -> None:
        """Status colours made for the theme's kind (dark or light): each keeps its contrast there."""
        del theme
        use_palette(self.current_theme.dark)
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.redraw()
            for tree in screen.query(EnvelopeTree):
                tree.redraw()

    def _keep_theme(self, theme: str) -> None:
        try:
            save_theme(theme)
        except OSError as exc:
            problem = f"{exc.strerror or exc}: {exc.filename or ''}"
            self.notify(problem, title=t("app.config_error", self.lang), severity="warning")
        except ConfigError as exc:  # the file cannot be read back (not a regular file, not UTF-8)
            self.notify(str(exc), title=t("app.config_error", self.lang), severity="warning")

    def _alert_settings(self) -> AlertSettings:
        if self.alerts is not None:
            return self.alerts
        try:
            return load_config().alerts
        except ConfigError:
            return AlertSettings()  # the config's error is told once, with the view's (_first_view)

    def _first_view(self) -> str:
        if self.view is not None:
            return self.view
        try:
            return load_config().view or DEFAULT_VIEW
        except ConfigError as exc:
            self.notify(str(exc), title=t("app.config_error", self.lang), severity="error", timeout=15)
            return DEFAULT_VIEW

    def _apply_keymap(self, screen: Screen[None]) -> None:
        ids = {b.id for b in [*self.BINDINGS, *screen.BINDINGS] if isinstance(b, Binding) and b.id}
        path = keymap_path()
        try:
            keymap = load_keymap(path, ids)
            _refuse_unpressable_keys(path, keymap)
            _refuse_shared_keys(path, keymap, self._keys_taken(screen))
        except KeymapError as exc:
            self.notify(str(exc), title=t("app.keymap_error", self.lang), severity="error", timeout=15)
            return
        if keymap:
            self.set_keymap(keymap)

    def _keys_taken(self, screen: Screen[None]) -> list[Binding]:
        """Every binding a remapped key could take the place of: the app's and the screen's, inherited
        ones too (Textual's ctrl+q, ctrl+c, tab), the command palette's, and the job table's cursor keys."""
        classes = [*type(self).__mro__, *type(screen).__mro__, JobTable]
        found = [Binding(self.COMMAND_PALETTE_BINDING, "command_palette")]
        for cls in dict.fromkeys(classes):
            own = cls.__dict__.get("BINDINGS", [])
            found += [b for group in BindingsMap(own).key_to_bindings.values() for b in group]
        return list(dict.fromkeys(found))

    async def action_quit(self) -> None:
        """ctrl+q and the palette's Quit ask like `q` while the embedded engine holds jobs."""
        self.action_request_quit()

    def action_request_quit(self) -> None:
        from jobtui.screens.dialogs import ConfirmDialog

        if self._asking_quit:
            return
        busy = self.engine.busy if self.engine is not None else 0
        if not busy:
            self.exit(0)
            return

        def done(ok: bool | None) -> None:
            self._asking_quit = False
            if ok:
                self.exit(0)

        self._asking_quit = True

        message = t("app.quit.message", self.lang, jobs=count_text(busy, "job", self.lang))
        self.push_screen(ConfirmDialog(t("app.quit.title", self.lang), None, message, lang=self.lang), done)

    def action_command_palette(self) -> None:
        if self.lang == DEFAULT_LANG:
            super().action_command_palette()
        elif self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(
                CommandPalette(placeholder=t("palette.placeholder", self.lang), id="--command-palette")
            )

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for system in super().get_system_commands(screen):
            if self.lang == DEFAULT_LANG:
                yield system
            elif system.title in TRANSLATED_SYSTEM_COMMANDS:
                # Textual's own commands in the operator's language; those that open English screens or
                # toasts of Textual's (Theme, Keys, Screenshot) are left out.
                key = TRANSLATED_SYSTEM_COMMANDS[system.title]
                yield system._replace(title=t(key, self.lang), help=t(f"{key}_help", self.lang))
        if isinstance(screen, MonitorScreen):
            # Those that may run now; PaletteCommands lists the refused ones after them.
            for command in listed_commands(screen):
                if command.refusal is None:
                    yield SystemCommand(command.title, command.help, command.run)

    def on_unmount(self) -> None:
        self.stop_engine()

    def stop_engine(self) -> None:
        """Stop the embedded engine (it hands back the jobs held between ops) and mark its worker row
        stopped, ops in flight or not: this process is leaving, so a dashboard opened next must not take
        it for a live daemon, and the next engine re-adopts its ops. Safe to call more than once."""
        self._watch_stop.set()
        self._engine_stop.set()
        # One bound for both: a process stopped while it holds the write lock (SIGSTOP) kept the dashboard
        # from exiting, after its screen had closed.
        deadline = time.monotonic() + ENGINE_STOP_WAIT_S
        thread, self._engine_thread = self._engine_thread, None
        if thread is not None:
            thread.join(timeout=ENGINE_STOP_WAIT_S)
        if self.engine is not None:
            try:
                self.engine.mark_stopped(lock_wait_s=max(MARK_STOPPED_WAIT_S, deadline - time.monotonic()))
            except Exception:  # the database is gone or locked: its heartbeat goes stale instead
                log.warning("could not mark the embedded engine's worker stopped", exc_info=True)

    def _handle_exception(self, error: Exception) -> None:
        """An unhandled error ends the app with return code 1; run_app logs the traceback to a file
        rather than printing it on the terminal."""
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        if self.crash is not None:
            self._exit_renderables.clear()  # no traceback on the terminal: run_app says it in one line
        super()._print_error_renderables()


def run_app(
    url: str,
    readonly: bool = False,
    lang: str | None = None,
    actor: Actor | None = None,
    view: str | None = None,
    alerts: AlertSettings | None = None,
) -> int:
    """The monitor on the database at `url`: its rows are read at once, the Store opens behind them.
    `view`: the view it opens on (None: the config file's, else jobs)."""
    import locale

    from jobtui.engine.formats.policy_file import load_policy
    from jobtui.engine.service.policy import actor_for_url

    if lang is None:
        current = os.environ.get("LC_ALL") or os.environ.get("LANG") or (locale.getlocale()[0] or "")
        lang = "es" if current.startswith("es") else "en"
    if actor is None:
        # The database's stored policy binds when it has one; $JOBTUI_POLICY only when it has none.
        actor = actor_for_url(url, lambda: load_policy(os.environ.get("JOBTUI_POLICY")))
    backend = Backend.for_url(url, actor)
    app = JobtuiApp(backend, actor, readonly=readonly, lang=lang, view=view, alerts=alerts)
    return run_dashboard(app)


def run_dashboard(app: JobtuiApp, **run_options: Any) -> int:
    """Run `app` (`run_options` go to App.run) and return its exit code: 0 after a quit, 1 after an
    unhandled error, which is logged to a file and told in one line on stderr. The embedded engine stops
    with the app on any exit."""
    try:
        app.run(**run_options)
    except Exception as exc:  # the app did not even start or stop cleanly
        if app.crash is None:
            app.crash = exc
    finally:
        app.stop_engine()
    if app.crash is not None:
        path = write_crash_log(app.crash)
        where = str(path) if path is not None else "-"
        print(t("app.crashed", app.lang, error=one_line(app.crash), path=where), file=sys.stderr)
        return 1
    if app.failed is not None:
        raise app.failed  # the CLI turns it into its one-line message and exit code
    return app.return_code or 0


def _refuse_shared_keys(path: Path, keymap: dict[str, str], bindings: list[Binding]) -> None:
    """A key map that gives one key to two commands (its own, or one of theirs by default) is refused
    whole, naming them: applied, one of the two could no longer be reached, and nothing said which."""
    holders: dict[str, list[str]] = {}
    for binding in bindings:
        keys = keymap.get(binding.id or "", binding.key)
        for key in {_key_name(key) for key in keys.split(",") if key.strip()}:
            holders.setdefault(key, []).append(binding.id or binding.action)
    clashes = [
        f'{path}: [keys] "{key}" would be the key of both {" and ".join(f"{name!r}" for name in names)}'
        for key, names in holders.items()
        if len(names) > 1 and any(name in keymap for name in names)
    ]
    if clashes:
        raise KeymapError("\n".join(clashes))


MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})


def _refuse_unpressable_keys(path: Path, keymap: dict[str, str]) -> None:
    """A key map naming a key no keyboard sends (`"\\u001b[2J"`, `"[b]X[/b]"`, `"ctrl+"`) is refused, named
    visibly: applied, its command was left on a key nobody can press, and nothing said so."""
    bad = [
        f'{path}: [keys] "{binding_id}": {visible(key.strip())!r} is not a key (try "A", "ctrl+a" or "f5")'
        for binding_id, keys in keymap.items()
        for key in keys.split(",")
        if not _pressable(key.strip())
    ]
    if bad:
        raise KeymapError("\n".join(bad))


def _pressable(key: str) -> bool:
    """Whether `key` names a key Textual can report: modifiers, then one printable character or a key's
    name ("enter", "f5", "slash", "exclamation_mark")."""
    *modifiers, base = key.rsplit("+", 1) if len(key) > 1 else [key]
    if modifiers and not all(part in MODIFIERS for part in modifiers[0].split("+")):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    if base in _KEY_NAMES:
        return True
    # A character's Unicode name as Textual spells it ("exclamation_mark"): looked up ignoring case, so
    # "Space" or "DEL" found a character whose key name is another ("space", "delete"): never pressed.
    character = key_to_character(base) if base.isascii() else None
    return character is not None and _character_to_key(character) == base


_KEY_NAMES = frozenset({key.value for key in Keys} | {_character_to_key(chr(c)) for c in range(33, 127)})


def _key_name(key: str) -> str:
    """A key as Textual names it: "/" and "slash" are one key."""
    key = key.strip()
    return _character_to_key(key) if len(key) == 1 else key


__all__ = ["JobtuiApp", "live_daemon_host", "run_app", "run_dashboard"]
