"""What the monitor works through: the job listing from the first moment (plain driver reads), and the
Store with the engine's actions once they are imported and open, which a thread does after the first
paint. Importing SQLAlchemy, the ORM models and the engine takes longer than painting the first rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pendulum

from jobtui.engine.db.driver import Reader, ReadFailed, normalise_url, printable_url
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.read.listing import JobListing, scope_of

if TYPE_CHECKING:
    from jobtui.engine.db.store import Store
    from jobtui.engine.service.actions import Actions
    from jobtui.engine.service.envelope_actions import EnvelopeActions
    from jobtui.engine.service.reads import Reads


# A dashboard action waits this long behind another process's write lock (a stopped daemon), then says
# who holds it; the embedded engine on the same Store waits as long as it takes.
ACTION_LOCK_WAIT_S = 30.0


class Backend:
    def __init__(self, listing: JobListing, actor: Actor, store: Store | None = None) -> None:
        self.listing = listing
        self.actor = actor
        self.url = listing.reader.url
        # The database as screens show it: a PostgreSQL password never reaches a screen (or a browser).
        self.label = printable_url(self.url)
        self._opened: Future[Actions] = Future()
        self._opening = threading.Lock()
        self._started = False
        self._reads: Reads | None = None
        self._envelopes: EnvelopeActions | None = None
        if store is not None:
            from jobtui.engine.service.actions import Actions

            self._started = True
            self._opened.set_result(Actions(store, actor, ACTION_LOCK_WAIT_S))

    @classmethod
    def of_store(cls, store: Store, actor: Actor) -> Backend:
        """For an open Store: everything is there at once. The listing shows only the projects the actor
        may view (action.job.view_monitor)."""
        return cls(JobListing(store.reader, scope_of(actor)), actor, store)

    @classmethod
    def for_url(cls, url: str, actor: Actor) -> Backend:
        """List at once when the database can be listed as it is; otherwise (no file yet, an older schema,
        count triggers to heal, options the plain reader does not apply) open the Store first, which
        creates, migrates or heals it, or raises StoreError saying what is wrong."""
        url = normalise_url(url)
        try:
            listing = JobListing(Reader(url), scope_of(actor))
            if listing.ready():
                return cls(listing, actor)
        except (ReadFailed, ValueError):
            pass
        from jobtui.engine.db.store import Store

        return cls.of_store(Store(url), actor)

    def open(self, then: Callable[[BaseException | None], object]) -> None:
        """Open the Store in a thread (once); `then(error)` runs when it is open (error None) or failed,
        from that thread, or at once from this one if it already is."""
        with self._opening:
            start, self._started = not self._started, True
        if start:
            threading.Thread(target=self._open, name="jobtui-open-store", daemon=True).start()
        self._opened.add_done_callback(lambda done: then(done.exception()))

    def _open(self) -> None:
        try:
            from jobtui.engine.db.store import Store
            from jobtui.engine.service.actions import Actions

            self._opened.set_result(Actions(Store(self.url), self.actor, ACTION_LOCK_WAIT_S))
        except BaseException as exc:
            self._opened.set_exception(exc)

    @property
    def is_open(self) -> bool:
        return self._opened.done() and self._opened.exception() is None

    @property
    def actions(self) -> Actions:
        """The engine's actions (waits for the Store to open; raises what opening it raised)."""
        return self._opened.result()

    @property
    def store(self) -> Store:
        return self.actions.store

    @property
    def reads(self) -> Reads:
        """Every read about one job or the envelopes, scoped by the actor (waits for the Store)."""
        from jobtui.engine.service.reads import Reads

        if self._reads is None:
            self._reads = Reads(self.store, self.actor)
        return self._reads

    @property
    def envelopes(self) -> EnvelopeActions:
        from jobtui.engine.service.envelope_actions import EnvelopeActions

        if self._envelopes is None:
            self._envelopes = EnvelopeActions(self.actions)
        return self._envelopes

    def listen(self, wake: Callable[[], None]) -> Any:
        """Changes from other hosts wake `wake` at once (PostgreSQL LISTEN/NOTIFY); the listener's stop()
        ends it."""
        return self.store.listen(wake)

    def now(self) -> pendulum.DateTime:
        """The Store's clock once open (tests freeze it), the system clock until then."""
        return self.store.now() if self.is_open else pendulum.now("UTC")

    def elapsed(self) -> float:
        """The Store's monotonic clock once open (tests drive it), the system's until then."""
        return self.store.clock.elapsed() if self.is_open else time.monotonic()

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads through the Store fail as the listing's do (ReadFailed), so the monitor has one error to
        catch whichever path read; so do the actions run in it (a write the database could not take was
        rolled back whole)."""
        from sqlalchemy.exc import DBAPIError

        try:
            yield
        except DBAPIError as exc:
            raise ReadFailed(exc.orig or exc) from exc
