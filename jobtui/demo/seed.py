"""`jobtui demo`: definitions of small shell ops that sleep and print, submitted so that within a minute
the dashboard shows every status and two envelopes (one goes through, one stops at a failed job), and a
stream that keeps it alive afterwards (and plays the operator: it cancels, rejects an approval and pauses a
trap's countdown, audited under the demo's own user).

The sleeps scale with a speed factor (the `speed` arguments, else $JOBTUI_DEMO_SPEED, else 1), so tests can
run the same definitions in a fraction of the time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import re
import textwrap
import threading
from collections.abc import Callable

import pendulum
from sqlalchemy import select

from jobtui.engine.db.models import Job
from jobtui.engine.db.store import Store
from jobtui.engine.domain.definitions import Definition
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import Status
from jobtui.engine.errors import BadValue
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.formats.envelope_file import EnvelopeEntry, EnvelopeSpec
from jobtui.engine.service.actions import Actions, Refused, UnknownJob
from jobtui.engine.service.envelope_actions import EnvelopeActions

log = logging.getLogger("jobtui.demo.seed")

SPEED_ENV = "JOBTUI_DEMO_SPEED"

# Seeded in this order. The engine claims due jobs by submission, two at a time by default: the minute
# long backup takes one slot, the short ones pass through the other, so every status shows within about
# a minute even with the 2 worker slots of the embedded engine.
DEMO_DEFINITIONS: dict[str, str] = {
    "long": """
        name = "backup"
        project = "ops"
        [[run]]
        name = "copy"
        run = "for i in $(seq 1 60); do echo chunk $i of 60; sleep 1; done"
    """,
    # Its schedule window opens just before the demo starts and closes six seconds (at speed 1) after:
    # the window closes while "extract" runs, so the job is PAUSED before "load" (see demo_definition).
    # (An engine taking it up only after the window closed leaves it READY until the window reopens.)
    "pauses": """
        name = "night-batch"
        project = "ops"
        [schedule]
        mode = "window"
        timezone = "UTC"
        window = { from = "{opens}", to = "{closes}" }
        [[pre]]
        name = "extract"
        run = "echo extracting; sleep 10"
        [[run]]
        name = "load"
        run = "echo loading"
    """,
    "later": """
        name = "weekend-maintenance"
        project = "ops"
        [schedule]
        at = "+2h"
        [[run]]
        run = "echo maintenance"
    """,
    "expires": """
        name = "missed-window"
        project = "ops"
        approval = true
        [schedule]
        at = "+20s"
        max_start = "+5s"
        [[run]]
        run = "true"
    """,
    "needs-approval": """
        name = "release-db"
        type = "release"
        project = "payments"
        approval = true
        approvers = ["role:release"]
        [[pre]]
        run = "echo plan; sleep 2"
        [[run]]
        run = "echo migrate; sleep 5"
    """,
    "fails": """
        name = "nightly-report"
        project = "analytics"
        [[run]]
        run = "echo querying; sleep 3; echo 'disk full' >&2; exit 2"
        [[post]]
        run = "echo mail the on-call"
    """,
    # The stream rejects it once it waits for approval (see DemoStream).
    "rejected": """
        name = "drop-legacy-tables"
        project = "payments"
        approval = true
        [[pre]]
        run = "echo plan; sleep 1"
        [[run]]
        run = "echo drop tables"
    """,
    # The op's parent is its slot's op starter (worker/opstarter.py), and a starter that dies never writes
    # the op's exit status, which is what an ABEND is.
    "abend": """
        name = "flaky-agent"
        project = "ops"
        [[run]]
        run = "echo starting agent; sleep 2; echo 'agent lost its supervisor' >&2; kill -9 $PPID"
        [[post]]
        run = "echo never reached"
    """,
    "trapped": """
        name = "patch-routers"
        project = "network"
        trap_timeout = "30m"
        targets = ["rt-1", "rt-2"]
        [[run]]
        name = "patch"
        per_target = true
        run = "echo patching $JOBTUI_TARGET; sleep 2; test $JOBTUI_TARGET != rt-2"
        on_error = "trap"
    """,
    # The stream pauses its trap's countdown once it traps (see DemoStream).
    "trap-paused": """
        name = "patch-switches"
        project = "network"
        trap_timeout = "30m"
        [[run]]
        name = "patch"
        run = "echo patching sw-1; sleep 1; echo 'sw-1 refused the image' >&2; exit 1"
        on_error = "trap"
    """,
    "partial": """
        name = "firmware-rollout"
        project = "network"
        targets = ["dev-a", "dev-b", "dev-c"]
        [[run]]
        per_target = true
        run = "echo flashing $JOBTUI_TARGET; sleep 2; test $JOBTUI_TARGET != dev-b"
    """,
    "rolls-back": """
        name = "schema-change"
        project = "payments"
        rollback_on_error = true
        [[run]]
        name = "alter"
        run = "echo alter table; sleep 2"
        rollback = "echo restore table; sleep 1"
        [[run]]
        name = "verify"
        run = "sleep 2; exit 1"
    """,
    # Runs for three minutes unless the demo stream cancels it first (see DemoStream).
    "canceled": """
        name = "reindex-search"
        project = "web"
        [[run]]
        name = "reindex"
        run = "for i in $(seq 1 90); do echo indexing batch $i; sleep 2; done"
    """,
    "build-and-deploy": """
        name = "deploy-web"
        type = "deploy"
        project = "payments"
        natures = ["java"]
        targets = ["web-01", "web-02", "web-03"]
        [[pre]]
        name = "build"
        run = "echo compiling; sleep 3; echo done"
        [[run]]
        name = "deploy"
        per_target = true
        run = "echo deploying to $JOBTUI_TARGET; sleep 4"
        rollback = "echo undeploy $JOBTUI_TARGET"
        [[post]]
        name = "notify"
        run = "echo notify team"
    """,
    # Seed 003: dev-2 keeps failing; it is RESCHEDULED every 20 s until the schedule expires, then
    # the job ends PARTIAL.
    "retrying": """
        name = "sync-devices"
        project = "network"
        targets = ["dev-1", "dev-2"]
        [schedule]
        mode = "now"
        retry_every = "20s"
        expires = "+30s"
        [[run]]
        name = "sync"
        per_target = true
        run = "echo syncing $JOBTUI_TARGET; sleep 1; test $JOBTUI_TARGET != dev-2"
    """,
    "windowed": """
        name = "firmware-window"
        project = "network"
        targets = ["rt-1", "rt-2"]
        [schedule]
        mode = "window"
        timezone = "UTC"
        window = { from = "02:00", to = "04:00" }
        days = ["mon", "tue", "wed", "thu", "fri"]
        [[run]]
        name = "flash"
        per_target = true
        run = "echo flashing $JOBTUI_TARGET; sleep 2"
    """,
    # The same definition and targets as "later", submitted again: the earlier job is REPLACED.
    "replaces-later": """
        name = "weekend-maintenance"
        project = "ops"
        [schedule]
        at = "+3h"
        [[run]]
        run = "echo maintenance"
    """,
}

# Two envelopes (seed 004): each a chain of jobs, every one starting once the one before it FINISHED. The
# feed's validation fails (every time: a retry fails again), so the chain stops there: its last job is
# cancelled and the envelope reads Errors, for an operator to roll the envelope back.
DEMO_ENVELOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "release-42": ("payments", ("load-ledger", "match-payments", "publish-statements")),
    "customer-feed": ("analytics", ("load-feed", "validate-feed", "report-feed")),
}
ENVELOPE_JOBS: dict[str, str] = {
    "load-ledger": """
        name = "load-ledger"
        project = "payments"
        [[run]]
        name = "load"
        run = "echo loading 1200 ledger rows; sleep 3; echo loaded"
        rollback = "echo unloading ledger rows"
    """,
    "match-payments": """
        name = "match-payments"
        project = "payments"
        [[run]]
        name = "match"
        run = "echo matching payments; sleep 4; echo 1187 matched, 13 left open"
    """,
    "publish-statements": """
        name = "publish-statements"
        project = "payments"
        [[run]]
        name = "publish"
        run = "echo publishing statements; sleep 2"
    """,
    "load-feed": """
        name = "load-feed"
        project = "analytics"
        [[run]]
        name = "load"
        run = "echo loading customer feed; sleep 2"
        rollback = "echo dropping the loaded feed"
    """,
    "validate-feed": """
        name = "validate-feed"
        project = "analytics"
        [[run]]
        name = "validate"
        run = "echo validating; sleep 2; echo 'row 5121: missing customer id' >&2; exit 1"
    """,
    "report-feed": """
        name = "report-feed"
        project = "analytics"
        [[run]]
        run = "echo reporting"
    """,
}
# Where each envelope's jobs come to rest, in chain order.
DEMO_ENVELOPE_OUTCOMES: dict[str, tuple[Status, ...]] = {
    "release-42": (Status.FINISHED, Status.FINISHED, Status.FINISHED),
    "customer-feed": (Status.FINISHED, Status.ERROR, Status.CANCELED),
}

# Where each seeded job comes to rest (with the stream's cancel, and once the clock passes the expiry).
DEMO_OUTCOMES: dict[str, Status] = {
    "long": Status.FINISHED,
    "pauses": Status.PAUSED,
    "rejected": Status.REJECTED,
    "trap-paused": Status.TRAP_PAUSED,
    "expires": Status.EXPIRED,
    "needs-approval": Status.APPROVAL,
    "fails": Status.ERROR,
    "abend": Status.ABEND,
    "trapped": Status.TRAPPED,
    "partial": Status.PARTIAL,
    "rolls-back": Status.ROLLEDBACK,
    "canceled": Status.CANCELED,
    "build-and-deploy": Status.FINISHED,
    "retrying": Status.PARTIAL,
    "windowed": Status.READY,
    "later": Status.REPLACED,
    "replaces-later": Status.READY,
}

# The definitions whose running jobs the stream cancels, as an operator would.
CANCEL_NAMES = frozenset({"reindex-search"})
# The definitions whose approvals the stream rejects, and whose traps' countdowns it pauses.
REJECT_NAMES = frozenset({"drop-legacy-tables"})
TRAP_PAUSE_NAMES = frozenset({"patch-switches"})
# What the stream submits, in turn. Not "later": a pile of far-future jobs shows nothing new.
STREAM_ROTATION: tuple[str, ...] = (
    "build-and-deploy",
    "fails",
    "partial",
    "canceled",
    "trapped",
    "rolls-back",
    "abend",
    "needs-approval",
    "expires",
    "rejected",
    "trap-paused",
    "pauses",
    "long",
)
# The window of "pauses": open this long before the demo starts, closing this long (times the speed) after.
WINDOW_OPENED_S = 1.0
WINDOW_LEFT_S = 6.0

_SLEEP = re.compile(r"\bsleep (\d+(?:\.\d+)?)")


def demo_speed(speed: float | None = None) -> float:
    """The factor sleeps are multiplied by: `speed`, else $JOBTUI_DEMO_SPEED, else 1."""
    if speed is None:
        raw = os.environ.get(SPEED_ENV, "").strip()
        try:
            speed = float(raw) if raw else 1.0
        except ValueError:
            raise BadValue(f"{SPEED_ENV} must be a number, not {raw!r}") from None
    if not 0 < speed < math.inf:
        raise BadValue(f"demo speed must be a positive number, not {speed}")
    return speed


def _scaled(text: str, speed: float) -> str:
    if speed == 1:
        return text
    return _SLEEP.sub(lambda m: f"sleep {float(m.group(1)) * speed:.3f}".rstrip("0").rstrip("."), text)


def demo_definition(key: str, speed: float | None = None, now: pendulum.DateTime | None = None) -> Definition:
    """A parsed demo definition, its sleeps scaled by the demo speed; the window of "pauses" is placed
    around `now` (else the wall clock)."""
    factor = demo_speed(speed)
    text = _scaled(textwrap.dedent(DEMO_DEFINITIONS[key]), factor)
    if "{opens}" in text:
        at = now or pendulum.now("UTC")
        opens = at.subtract(seconds=WINDOW_OPENED_S)
        closes = at.add(seconds=max(1, math.ceil(WINDOW_LEFT_S * factor)))
        text = text.replace("{opens}", f"{opens.in_timezone('UTC'):%H:%M:%S}")
        text = text.replace("{closes}", f"{closes.in_timezone('UTC'):%H:%M:%S}")
    return parse_definition(text, f"demo/{key}.toml")


def envelope_job_definition(key: str, speed: float | None = None) -> Definition:
    """A parsed job of a demo envelope, its sleeps scaled by the demo speed."""
    text = _scaled(textwrap.dedent(ENVELOPE_JOBS[key]), demo_speed(speed))
    return parse_definition(text, f"demo/{key}.toml")


def _demo_actor(store: Store) -> Actor:
    # The demo fills a database of its own in single-user mode, like `jobtui` without a policy; on a
    # database that stores a policy, that policy judges it like any other command.
    from jobtui.engine.service.policy import resolve_actor

    return resolve_actor(store, lambda: None)


def seed_demo(store: Store, speed: float | None = None) -> list[int]:
    """Submit one job of every demo definition, in the order above; returns their ids."""
    actions = Actions(store, _demo_actor(store))
    factor = demo_speed(speed)
    return [actions.submit(demo_definition(key, factor, store.now())) for key in DEMO_DEFINITIONS]


def seed_envelopes(store: Store, speed: float | None = None) -> dict[str, list[int]]:
    """Submit the demo's envelopes (DEMO_ENVELOPES); returns each one's job ids in chain order."""
    envelopes = EnvelopeActions(Actions(store, _demo_actor(store)))
    factor = demo_speed(speed)
    seeded = {}
    for name, (project, keys) in DEMO_ENVELOPES.items():
        entries = tuple(EnvelopeEntry(envelope_job_definition(key, factor)) for key in keys)
        _, seeded[name] = envelopes.submit(EnvelopeSpec(name, project, f"demo/{name}.toml", entries))
    return seeded


class DemoStream:
    """The live part of the demo: every `every_s` (a random span between the two bounds, in the store's
    clock) it submits the next definition of STREAM_ROTATION; it cancels running jobs of CANCEL_NAMES
    once their RUN has gone on for `cancel_after_s`, rejects the approvals of REJECT_NAMES and pauses the
    trap countdowns of TRAP_PAUSE_NAMES, as an operator would (under the demo's own user).

    `start()` runs it on a daemon thread until `stop()`; `tick()` is one pass, for tests and for hosts
    that schedule it themselves.
    """

    def __init__(
        self,
        store: Store,
        every_s: tuple[float, float] = (10.0, 20.0),
        cancel_after_s: float = 5.0,
        speed: float | None = None,
        poll_s: float = 1.0,
        seed: int | None = None,
    ) -> None:
        low, high = every_s
        if not 0 < low <= high:
            raise ValueError(f"demo stream: every_s must be 0 < low <= high, not {every_s}")
        self.store = store
        self.actions = Actions(store, _demo_actor(store))
        self.every_s = (low, high)
        self.cancel_after_s = cancel_after_s
        self.speed = demo_speed(speed)
        self.poll_s = poll_s
        self._rng = random.Random(seed)
        self._turn = 0
        # The (action, job) pairs the stream played once: an operator who undoes one (resumes the paused
        # trap, reruns the rejected job) must not see the demo do it again behind their back.
        self._played: set[tuple[str, int]] = set()
        self._next_submit = self._after_pause(store.now())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jobtui-demo-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end and wait for it; it ends within one database action."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # wait() returns as soon as stop() sets the event: no sleep outlives a stop request.
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # one bad pass (a locked database) must not end the demo
                log.exception("demo stream pass failed; trying again")

    # -- one pass ------------------------------------------------------------------------------------

    def tick(self) -> list[int]:
        """Do whatever is due now; returns the ids of the jobs it submitted or canceled."""
        touched = self.cancel_due() + self.reject_due() + self.pause_traps_due()
        now = self.store.now()
        if now >= self._next_submit and not self._stop.is_set():
            touched.append(self.submit_next())
            self._next_submit = self._after_pause(now)
        return touched

    def submit_next(self) -> int:
        key = STREAM_ROTATION[self._turn % len(STREAM_ROTATION)]
        self._turn += 1
        return self.actions.submit(demo_definition(key, self.speed, self.store.now()))

    def cancel_due(self) -> list[int]:
        """Cancel the running jobs of CANCEL_NAMES whose RUN started `cancel_after_s` ago or more."""
        cutoff = self.store.now().subtract(microseconds=int(self.cancel_after_s * 1_000_000))
        with self.store.read() as s:
            ids = s.scalars(
                select(Job.id).where(
                    Job.status == Status.RUNNING.value,
                    Job.name.in_(sorted(CANCEL_NAMES)),
                    Job.run_started_at.is_not(None),
                    Job.run_started_at <= cutoff,
                )
            ).all()
        canceled = []
        for job_id in ids:
            assert job_id is not None
            # The job may have ended between the look and the cancel; the table then refuses it.
            with contextlib.suppress(Refused, UnknownJob):
                self.actions.cancel(job_id, comment="demo")
                canceled.append(job_id)
        return canceled

    def reject_due(self) -> list[int]:
        """Reject the approvals of REJECT_NAMES that are waiting."""
        return self._operate(
            "reject", Status.APPROVAL, REJECT_NAMES, lambda job_id: self.actions.reject(job_id, "demo")
        )

    def pause_traps_due(self) -> list[int]:
        """Pause the countdown of the trapped jobs of TRAP_PAUSE_NAMES."""
        return self._operate(
            "trap pause",
            Status.TRAPPED,
            TRAP_PAUSE_NAMES,
            lambda job_id: self.actions.trap(job_id, "pause", "demo"),
        )

    def _operate(
        self, action: str, status: Status, names: frozenset[str], act: Callable[[int], None]
    ) -> list[int]:
        """`act` on the jobs of `names` in `status`, each once."""
        with self.store.read() as s:
            ids = s.scalars(
                select(Job.id).where(Job.status == status.value, Job.name.in_(sorted(names)))
            ).all()
        done = []
        for job_id in ids:
            assert job_id is not None
            if (action, job_id) in self._played:
                continue
            # The job may have moved between the look and the action; the table then refuses it.
            with contextlib.suppress(Refused, UnknownJob):
                act(job_id)
                done.append(job_id)
                self._played.add((action, job_id))
        return done

    def _after_pause(self, now: pendulum.DateTime) -> pendulum.DateTime:
        low, high = self.every_s
        return now.add(microseconds=int(self._rng.uniform(low, high) * 1_000_000))
