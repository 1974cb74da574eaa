"""Live wake-ups over PostgreSQL LISTEN/NOTIFY: every write transaction sends one small notification and
viewers and idle daemons on any host wake at once instead of waiting for their next poll. When the
listening connection drops they keep polling and reconnect with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from jobtui.engine.domain.reachability import backoff_after

CHANNEL = "jobtui_changes"
# Also sent by transactions that may leave a job to claim: what idle daemons wait for.
WORK_CHANNEL = "jobtui_work"
log = logging.getLogger("jobtui.wakeups")


class Listener:
    """Calls `callback` (from its own thread) whenever another transaction committed a change."""

    def __init__(self, dsn: str | None, callback: Callable[[], None], channel: str = CHANNEL) -> None:
        self.dsn = dsn
        self.channel = channel
        self.callback = callback
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Listener:
        if self.dsn is None:  # SQLite: one host, polling the change feed is cheap
            return self
        self._thread = threading.Thread(target=self._run, name="jobtui-listen", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _run(self) -> None:
        import psycopg

        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn or "", autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.connected.set()
                    failures = 0
                    # A notification may have been missed while (re)connecting: look once.
                    self.callback()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.callback()
            except Exception as exc:  # the database went away: poll meanwhile, come back later
                self.connected.clear()
                failures += 1
                backoff = backoff_after(failures)
                log.info("change listener lost its connection (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
        with contextlib.suppress(Exception):
            self.connected.clear()
