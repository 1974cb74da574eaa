"""The engine's worker slots: one thread per slot takes the next op from a queue, starts it (a process, or
a call on that thread) and waits for its end, then takes the next one at once.

The engine's own thread only queues ops (after the transaction recording their start committed) and
records how they ended; it never creates a log file or forks. A slot that frees starts the next queued op
without waiting for the engine's next pass, so a burst of short ops keeps every slot busy while the engine
records them in batches. An op still queued has nothing to signal: terminating it means it never starts.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable

from jobtui.engine.worker.runner import OpHandle, OpOutcome, ProcessHandle
from jobtui.engine.worker.spawner import StarterLost

NEVER_STARTED = OpOutcome(143, "terminated before it started")


class SlotHandle:
    """The engine's handle on an op it queued: the op's own handle once a slot started it."""

    def __init__(self, log_path: str, token: str | None, queued_at: float | None = None) -> None:
        self.log_path = log_path
        self.token = token
        # When the engine queued it (its clock's elapsed seconds): an op waiting long is handed back.
        self.queued_at = queued_at
        self.inner: OpHandle | None = None
        # How the op ended without running (terminated while queued, or it could not start).
        self.ended_early: OpOutcome | None = None
        # Held by the slot while it starts the op, so a terminate waits for the process to signal it.
        self.lock = threading.Lock()
        self.ran_s: float | None = None  # how long the op took on its slot, once it ended there

    @property
    def pid(self) -> int | None:
        inner = self.inner
        return inner.pid if inner is not None else None

    @property
    def create_time(self) -> float | None:
        inner = self.inner
        return inner.create_time if inner is not None else None

    @property
    def process(self) -> ProcessHandle | None:
        inner = self.inner
        return inner if isinstance(inner, ProcessHandle) else None

    @property
    def queued(self) -> bool:
        return self.inner is None and self.ended_early is None

    def poll(self) -> OpOutcome | None:
        if self.ended_early is not None:
            return self.ended_early
        inner = self.inner
        return inner.poll() if inner is not None else None

    def withdraw(self) -> bool:
        """Take the op back from the queue unless a slot started it already; whether it was taken back
        (it never starts)."""
        with self.lock:
            if self.inner is not None or self.ended_early is not None:
                return False
            self.ended_early = NEVER_STARTED
            return True

    def terminate(self) -> list[str]:
        return self._signal(lambda inner: inner.terminate())

    def kill(self) -> list[str]:
        return self._signal(lambda inner: inner.kill())

    def _signal(self, send: Callable[[OpHandle], list[str]]) -> list[str]:
        with self.lock:
            inner = self.inner
            if inner is None:
                if self.ended_early is None:
                    self.ended_early = NEVER_STARTED
                return []
        return send(inner)


# Run on a slot's thread with the handle's lock held: starts the op and sets `handle.inner` (raising when
# it cannot start); returns what the slot runs once the lock is released (a call's function, a process's
# wait).
Starter = Callable[[SlotHandle], Callable[[], None]]


class Slots:
    def __init__(
        self,
        count: int,
        on_end: Callable[[], None],
        name: str = "jobtui-slot",
        elapsed: Callable[[], float] = time.monotonic,
    ) -> None:
        self._elapsed = elapsed  # the engine's clock (Clock.elapsed), which tests drive
        self._queue: queue.SimpleQueue[tuple[SlotHandle, Starter] | None] = queue.SimpleQueue()
        self._on_end = on_end
        self._closed = False
        self._count = max(1, count)
        self._short = threading.Event()  # set when the queue falls below one op a slot
        # When each slot's op started (on `elapsed`), None while it runs none.
        self._running_since: list[float | None] = [None] * self._count
        self._threads = [
            threading.Thread(target=self._serve, args=(n,), name=f"{name}-{n}", daemon=True)
            for n in range(self._count)
        ]
        self._started = False  # the threads start with the first op: an engine that runs none has none

    def submit(self, handle: SlotHandle, start: Starter) -> SlotHandle:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()
        self._queue.put((handle, start))
        return handle

    def well_fed(self) -> bool:
        """Every slot has an op queued behind the one it runs: none would idle before the engine's next
        pass, however late that comes."""
        return self._queue.qsize() >= self._count

    def running_longer_than(self, seconds: float) -> int:
        """How many slots run an op started more than `seconds` ago: slots that take nothing from the
        queue soon."""
        now = self._elapsed()
        return sum(1 for since in self._running_since if since is not None and now - since > seconds)

    def wait_while_well_fed(self, timeout: float) -> None:
        """Up to `timeout`, returning as soon as the queue falls below one op a slot."""
        self._short.clear()
        if self.well_fed():
            self._short.wait(timeout)

    def close(self) -> None:
        """No queued op starts from now on (its rows say it never did: a later engine starts it); the ops
        running keep running."""
        self._closed = True
        self._short.set()
        if self._started:
            for _ in self._threads:
                self._queue.put(None)

    def _serve(self, n: int) -> None:
        while True:
            item = self._queue.get()
            if self._queue.qsize() < self._count:
                self._short.set()
            if item is None or self._closed:
                return
            handle, start = item
            began = time.monotonic()
            self._running_since[n] = self._elapsed()
            then: Callable[[], None] | None = None
            with handle.lock:
                if handle.ended_early is None:
                    try:
                        then = start(handle)
                    except StarterLost as exc:  # it may have started: taken for vanished, never run twice
                        handle.ended_early = OpOutcome(None, f"op may have started: {exc}", vanished=True)
                    except Exception as exc:  # a bad log path, a full process table: the op fails
                        code = getattr(exc, "exit_code", 127)  # the starter's, as a shell gives it
                        handle.ended_early = OpOutcome(code, f"cannot start op: {exc}")
            if then is not None:
                with contextlib.suppress(Exception):
                    then()
            handle.ran_s = time.monotonic() - began
            self._running_since[n] = None
            self._on_end()


def process_of(handle: OpHandle) -> ProcessHandle | None:
    """The process behind `handle`, if it is (or started) one."""
    if isinstance(handle, ProcessHandle):
        return handle
    return handle.process if isinstance(handle, SlotHandle) else None
