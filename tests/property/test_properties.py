"""Property-based tests (hypothesis).

1. Random sequences of submissions, engine passes, clock moves and operator actions on the real engine:
   no sequence reaches a status, or audits a move, that the transition table does not allow; a refused
   action changes nothing; `Actions.allowed` predicts exactly which actions succeed.
2. Random and mutated definition and envelope files: CHECK either accepts a file or refuses it with
   `DefinitionError` / `EnvelopeCorrupt`, never a traceback, and every problem names its file and field.

Engine bugs these properties found are fixed and have regression tests at the end of the module; the
strategies still keep out the inputs that triggered them (each place says which), so a regression shows
under that test's own name.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import os
import re
import signal
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from jobtui.engine.db.store import Store
from jobtui.engine.domain import reasons, schedules
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.definitions import Definition, DefinitionError
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.domain.states import ACTIONS, Status, is_allowed_transition
from jobtui.engine.domain.timeparse import TimeParseError
from jobtui.engine.formats.definition_file import load_definition, parse_definition
from jobtui.engine.formats.envelope_file import EnvelopeCorrupt, load_envelope
from jobtui.engine.service.actions import Actions, Refused
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.runner import live_tokens
from tests.support.helpers import START, status_of, wait_for
from tests.unit.test_definitions import FULL

# Real processes and a fresh SQLite file per example are slow and their timing varies: no deadline.
# Sizes keep the module well under a minute; for a soak run raise max_examples (1,000 sequences of up
# to 29 moves and 4,000 files per test passed when these were written).
ENGINE_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILE_SETTINGS = settings(max_examples=150, deadline=None)

# ==========================================================================================================
# 1. Operator action sequences against the transition table
# ==========================================================================================================

# Small definitions that between them reach every engine path an operator can act on. Ops are trivial
# shell commands that print nothing, so a log file only changes when the engine writes to it.
ENGINE_DEFINITIONS: dict[str, str] = {
    "plain": 'name = "plain"\n[[run]]\nname = "deploy"\nrun = "true"\n',
    "failing": (
        'name = "failing"\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\nrollback = "true"\n'
        '[[run]]\nname = "deploy"\nrun = "exit 1"\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    ),
    "approval": (
        'name = "gated"\napproval = true\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\n'
        '[[run]]\nname = "deploy"\nrun = "true"\nrollback = "true"\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    ),
    "trap": 'name = "trap"\n[[run]]\nname = "flaky"\nrun = "exit 1"\non_error = "trap"\nrollback = "true"\n',
    "per_target": (
        'name = "partial"\ntargets = ["a", "b"]\n'
        '[[run]]\nname = "deploy"\nper_target = true\nrun = \'test "$JOBTUI_TARGET" = a\'\n'
        'rollback = "true"\n'
    ),
    "rollback_on_error": (
        'name = "auto-rollback"\nrollback_on_error = true\n'
        '[[pre]]\nname = "prepare"\nrun = "true"\nrollback = "true"\n'
        '[[run]]\nname = "deploy"\nrun = "exit 1"\nrollback = "true"\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    ),
    "retrying": (
        'name = "retrying"\ntargets = ["a", "b"]\n[schedule]\nretry_every = "5m"\n'
        '[[run]]\nname = "push"\nper_target = true\nrun = \'test "$JOBTUI_TARGET" = a\'\n'
        '[[post]]\nname = "notify"\nrun = "true"\n'
    ),
    "later": 'name = "later"\n[schedule]\nat = "+1h"\nmax_start = "+30m"\n[[run]]\nrun = "true"\n',
    # The window opens half an hour after START and a clock move can close it between two ops (PAUSED).
    "windowed": (
        'name = "windowed"\n[schedule]\nmode = "window"\ntimezone = "UTC"\n'
        'window = { from = "10:30", to = "11:30" }\n'
        '[[run]]\nname = "one"\nrun = "true"\n[[run]]\nname = "two"\nrun = "true"\n'
    ),
}


@functools.cache
def engine_definition(key: str) -> Definition:
    return parse_definition(ENGINE_DEFINITIONS[key], f"{key}.toml")


# Operator actions as the dashboard and the CLI offer them: (table action or None for bad input, call).
JobCall = Callable[[Actions, int], object]
JOB_ACTIONS: dict[str, tuple[str | None, JobCall]] = {
    "approve": ("approve", lambda a, j: a.approve(j, "ok")),
    "reject": ("reject", lambda a, j: a.reject(j, "no")),
    "cancel": ("cancel", lambda a, j: a.cancel(j)),
    "delete": ("delete", lambda a, j: a.delete(j)),
    "rerun PRE": ("rerun", lambda a, j: a.rerun(j, "PRE")),
    "rerun RUN": ("rerun", lambda a, j: a.rerun(j, "RUN")),
    "rerun RUN now": ("rerun", lambda a, j: a.rerun(j, "RUN", run_now=True)),
    "rerun POST": ("rerun", lambda a, j: a.rerun(j, "POST")),
    "retry": ("retry", lambda a, j: a.retry(j)),
    "reschedule +1h": ("reschedule", lambda a, j: a.reschedule(j, "+1h")),
    "trap retry": ("trap_retry", lambda a, j: a.trap(j, "retry")),
    "trap skip": ("trap_skip", lambda a, j: a.trap(j, "skip")),
    "trap abort": ("trap_abort", lambda a, j: a.trap(j, "abort")),
    "trap pause": ("trap_pause", lambda a, j: a.trap(j, "pause")),
    "trap resume": ("trap_resume", lambda a, j: a.trap(j, "resume")),
    "rollback": ("rollback", lambda a, j: a.rollback(j, "because")),
    # Bad input: refused (Refused or ValueError) without touching anything.
    "rerun END": (None, lambda a, j: a.rerun(j, "END")),
    "trap bogus": (None, lambda a, j: a.trap(j, "bogus")),
    "reschedule whenever": (None, lambda a, j: a.reschedule(j, "whenever")),
}
assert {name for name, _ in JOB_ACTIONS.values() if name} == set(ACTIONS), "every table action is drawn"

QUEUE_CALLS: dict[str, Callable[[Actions], object]] = {
    "pause": lambda a: a.queue_pause("maintenance"),
    "resume": lambda a: a.queue_resume(),
    "clear": lambda a: a.queue_clear(),
}


@dataclass(frozen=True)
class Move:
    """One step of a sequence; `pick` chooses among the existing jobs (modulo their number).

    A guided action is one of those `Actions.allowed` offers for the job (`what` when none is), so that
    sequences get past the first refusal into the deeper statuses; unguided ones are drawn blind.
    """

    kind: str
    what: str = ""
    pick: int = 0
    keep: bool = True
    guided: bool = False

    def __repr__(self) -> str:
        if self.kind == "submit":
            return f"submit({self.what}{'' if self.keep else ', replace'})"
        if self.kind == "act":
            return f"{'guided ' if self.guided else ''}{self.what}(job #{self.pick})"
        return f"{self.kind}({self.what})" if self.what else f"{self.kind}()"


SUBMITS = st.builds(Move, st.just("submit"), st.sampled_from(sorted(ENGINE_DEFINITIONS)), keep=st.booleans())
ACTS = st.builds(
    Move,
    st.just("act"),
    st.sampled_from(sorted(JOB_ACTIONS)),
    st.integers(0, 7),
    guided=st.sampled_from([True, True, False]),
)
# Operator actions and full engine passes are what move jobs through the table; a lone tick, a clock move
# or a queue action is the rarer interleaving. (one_of would not do: it folds repeated branches into one.)
MOVE_WEIGHTS: dict[str, tuple[int, st.SearchStrategy[Move]]] = {
    "submit": (2, SUBMITS),
    "tick": (1, st.just(Move("tick"))),
    "drain": (3, st.just(Move("drain"))),
    "advance": (1, st.builds(Move, st.just("advance"), st.integers(0, 7200).map(str))),
    "act": (6, ACTS),
    "queue": (1, st.builds(Move, st.just("queue"), st.sampled_from(sorted(QUEUE_CALLS)))),
}
MOVES = st.sampled_from([kind for kind, (weight, _) in MOVE_WEIGHTS.items() for _ in range(weight)]).flatmap(
    lambda kind: MOVE_WEIGHTS[kind][1]
)


def snapshot(store: Store) -> dict[str, Any]:
    """Every row of every table and the bytes of every log: what "a refused action changed nothing" means.

    Op status journals (*.status; *.rc files before them) are left out: the op's starter writes them
    whenever the process ends, which is not a change made by the action. So are the audit rows of
    refusals: the record a refused action leaves is its only trace (the refusal is checked to leave one).
    """
    rows: dict[str, Any] = {}
    with store.engine.connect() as conn:
        inspector = sa_inspect(conn)
        for table in sorted(inspector.get_table_names()):
            keys = inspector.get_pk_constraint(table)["constrained_columns"] or ["1"]
            order = ", ".join(f'"{k}"' if k != "1" else k for k in keys)
            where = " WHERE NOT refused" if table == "audit" else ""
            rows[table] = [
                tuple(r) for r in conn.execute(text(f'SELECT * FROM "{table}"{where} ORDER BY {order}'))
            ]
    rows["log files"] = {
        p.name: p.read_bytes()
        for p in sorted(store.log_dir.iterdir())
        if p.is_file() and not {".rc", ".status"} & set(p.suffixes)
    }
    return rows


class World:
    """A store, engine and clock of their own per example (hypothesis reuses function-scoped fixtures)."""

    def __init__(self, root: Path) -> None:
        self.clock = FakeClock(START)
        self.store = Store(f"sqlite:///{root / 'jobs.db'}", clock=self.clock, log_dir=root / "logs")
        self.actions = Actions(self.store, Actor("tester"))
        self.engine = Engine(self.store, workers=2, kill_grace_s=5.0)

    def close(self) -> None:
        # The engine first: its slots start nothing after it (what waited for a slot is handed back), so
        # every op left is one that runs, found below by pid or, before its pid was recorded, by token.
        self.engine.shutdown()
        self.kill_live_ops()
        self.store.engine.dispose()

    def kill_live_ops(self) -> None:
        """Leave no op behind. Unlike conftest's _kill_op_processes, only a group whose leader is still
        the op started here, or a process carrying one of this world's op tokens: pids wrap (pid_max may
        be 32768) and other test runs share the machine."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT pid, pid_create_time FROM op_runs WHERE pid IS NOT NULL")).all()
            tokens = {r[0] for r in conn.execute(text("SELECT token FROM op_runs WHERE token IS NOT NULL"))}
        for pid, created in rows:
            if is_same_process(int(pid), float(created or 0.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(pid), signal.SIGKILL)
        for token, processes in live_tokens().items():
            if token in tokens:
                for process in processes:
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                        process.wait(5)

    def job_ids(self) -> list[int]:
        with self.store.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(text("SELECT id FROM jobs ORDER BY id"))]

    def play(self, move: Move) -> None:
        if move.kind == "submit":
            self.actions.submit(engine_definition(move.what), keep=move.keep)
        elif move.kind == "tick":
            self.engine.tick()
        elif move.kind == "drain":
            self.engine.run_until(lambda: not self.engine.busy, timeout=10)
            self.check_nothing_left_running()
        elif move.kind == "advance":
            self.clock.advance(int(move.what))
        elif move.kind == "queue":
            QUEUE_CALLS[move.what](self.actions)
        else:
            ids = self.job_ids()
            if ids:
                self.act(move, ids[move.pick % len(ids)])

    def act(self, move: Move, job_id: int) -> None:
        status = status_of(self.store, job_id)
        allowed = self.actions.allowed(job_id)
        label = move.what
        offered = sorted(action for action, refusal in allowed.items() if refusal is None)
        if move.guided and offered:
            # Still hypothesis's choice (from the drawn label), but among the actions the job offers;
            # by table action first, so that rerun's four spellings do not crowd out the others.
            chosen = offered[sum(map(ord, move.what)) % len(offered)]
            spellings = [name for name, (action, _) in JOB_ACTIONS.items() if action == chosen]
            label = spellings[move.pick % len(spellings)]
        action, call = JOB_ACTIONS[label]
        # Ops a tick queued start on the engine's slots meanwhile, each writing its first line: not a change
        # the action makes.
        wait_for(lambda: self.engine.ops_waiting == 0, what="the queued ops to start")
        before = snapshot(self.store)
        try:
            call(self.actions, job_id)
        except Refused as exc:
            note(f"  {label} on job {job_id} ({status}): refused: {exc}")
            event(f"refused: {label}")
            assert snapshot(self.store) == before, f"refused {label} changed the database"
            with self.store.engine.connect() as conn:
                recorded = conn.execute(
                    text(
                        "SELECT comment FROM audit WHERE job_id = :job AND refused ORDER BY id DESC LIMIT 1"
                    ),
                    {"job": job_id},
                ).scalar()
            assert recorded == str(exc), f"refused {label} left no audit row with its reason"
            # allowed() is by action; a refusal of the action's arguments (the step of a rerun) it cannot
            # predict: a rerun from POST that would skip RUN (never approved, or RUN did not succeed).
            # Or from RUN, one that would skip a PRE that did not succeed.
            kind = getattr(exc.args[0], "kind", None)
            by_argument = (label == "rerun POST" and kind in (reasons.SKIPS_APPROVAL, reasons.SKIPS_RUN)) or (
                label.startswith("rerun RUN") and kind == reasons.SKIPS_PRE
            )
            if action is not None and not (by_argument and allowed[action] is None):
                assert allowed[action] == str(exc), f"allowed() did not predict the refusal of {label}"
            return
        except ValueError as exc:
            note(f"  {label} on job {job_id} ({status}): bad input: {exc}")
            assert action is None, f"{label} raised ValueError for good input: {exc}"
            assert snapshot(self.store) == before, f"{label} with bad input changed the database"
            return
        note(f"  {label} on job {job_id} ({status}): done")
        event(f"done: {label} from {status}")
        assert action is not None, f"{label} accepted bad input"
        assert allowed[action] is None, f"{label} succeeded although allowed() said {allowed[action]!r}"

    def check(self) -> None:
        with self.store.engine.connect() as conn:
            statuses = conn.execute(text("SELECT id, status FROM jobs")).all()
            audit = conn.execute(
                text("SELECT id, job_id, action, from_status, to_status FROM audit ORDER BY id")
            ).all()
        known = {s.value for s in Status}
        for _, status in statuses:
            event(f"reached {status}")
        assert [row for row in statuses if row[1] not in known] == [], "jobs in unknown statuses"
        for row_id, job_id, action, src, dst in audit:
            assert src is None or src in known, f"audit row {row_id}: unknown status {src}"
            assert dst is None or dst in known, f"audit row {row_id}: unknown status {dst}"
            if src is None and dst is not None:
                assert action == "submit", f"audit row {row_id}: {action} of job {job_id} from no status"
            if src is not None and dst is not None and src != dst:
                assert is_allowed_transition(Status(src), Status(dst)), (
                    f"audit row {row_id}: {action} moved job {job_id} {src} → {dst}, not in the table"
                )

    def check_nothing_left_running(self) -> None:
        """With the engine holding no job, no job can be RUNNING: nobody would ever move it on."""
        with self.store.engine.connect() as conn:
            stuck = conn.execute(text("SELECT id, status, step FROM jobs WHERE status = 'RUNNING'")).all()
        assert stuck == [], f"jobs left RUNNING by an idle engine: {stuck}"


@contextlib.contextmanager
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix="jobtui-prop-") as root:
        w = World(Path(root))
        try:
            yield w
        finally:
            w.close()


@pytest.mark.slow
@ENGINE_SETTINGS
@given(first=st.lists(SUBMITS, min_size=1, max_size=3), then=st.lists(MOVES, min_size=4, max_size=9))
def test_no_action_sequence_leaves_the_transition_table(first: list[Move], then: list[Move]) -> None:
    with world() as w:
        for number, move in enumerate(first + then):
            note(f"{number}: {move!r} at {w.clock.now().format('HH:mm:ss')}")
            w.play(move)
            w.check()


# ==========================================================================================================
# 2. Random and mutated definition and envelope files
# ==========================================================================================================

WINDOWED = """\
name = "nightly-sync"
project = "payments"
targets = ["db-1", "db-2"]
[schedule]
mode = "window"
timezone = "Europe/Zurich"
start = "2026-11-23"
expires = "2026-11-30T18:00"
window = { from = "22:00", to = "04:00" }
days = ["mon", "tue", "wed", "thu", "fri"]
retry_every = "5m"
[[run]]
name = "sync"
run = "sync --all"
per_target = true
"""

FIRE_AND_FORGET = """\
name = "push"
[schedule]
mode = "now"
timezone = "UTC"
at = "+90s"
max_start = "+1d"
expires = "+2h"
retry_every = "0"
[[pre]]
argv = ["prepare", "--fast"]
[[run]]
run = "push"
on_error = "trap"
"""

SEEDS = (FULL, WINDOWED, FIRE_AND_FORGET, 'name = "x"\n[[run]]\nrun = "true"\n')

TOP_KEYS = (
    "name",
    "type",
    "project",
    "natures",
    "system",
    "approval",
    "approvers",
    "rollback_on_error",
    "trap_timeout",
    "trap_timeout_action",
    "targets",
    "schedule",
    "pre",
    "run",
    "post",
)
SCHEDULE_KEYS = ("mode", "timezone", "at", "max_start", "start", "expires", "window", "days", "retry_every")
OP_KEYS = ("name", "run", "argv", "call", "per_target", "timeout", "on_error", "rollback", "env")
WINDOW_KEYS = ("from", "to")
ENVELOPE_KEYS = ("envelope", "project", "jobs", "file", "at", "max_start")
FIELD_NAMES = frozenset(TOP_KEYS + SCHEDULE_KEYS + OP_KEYS + WINDOW_KEYS)
KEY_NAMES = st.one_of(
    st.sampled_from(sorted(FIELD_NAMES | set(ENVELOPE_KEYS))),
    st.sampled_from(["timeot", "schedul", "Name", "run ", "window.from", "", "a b", "é", "[x]"]),
    st.text(max_size=8),
)

# Dates stay within 1900–2200: dates near the ends of the calendar overflow (regression tests below).
DATETIMES = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.one_of(
        st.none(),
        st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
    ),
)
DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1))
TIMES = st.times()
# What people write into time and choice fields, right and wrong. Relative dates stay under ~270 years
# and zones leave out the tzdata directory names ("Europe", "Etc"): both have regression tests below.
TRICKY_STRINGS = st.one_of(
    st.sampled_from(
        [
            "now",
            "+90s",
            "+2h",
            "+1d",
            "+1 day",
            "+0",
            "+",
            "-1h",
            "tomorrow 02:00",
            "today 25:00",
            "tomorrow 23:59:59",
            "2026-11-23",
            "2026-11-23T02:00:00+01:00",
            "2026-11-30T18:00",
            "2026-13-45",
            "2026-11-23T02:00:00Z",
            "10m",
            "10 minutes",
            "1h30m",
            "30m1h",
            "1d 2h",
            "0",
            ".5s",
            "1e3",
            "nan",
            "inf",
            "22:00",
            "04:00",
            "24:00",
            "7:5",
            "mon",
            "sun",
            "Mon",
            "monday",
            "now",
            "window",
            "NOW",
            "fail",
            "trap",
            "ignore",
            "abort",
            "skip",
            "retry",
            "UTC",
            "Europe/Zurich",
            "America/New_York",
            "Mars/Olympus",
            "Europe/",
            "../etc/passwd",
            "a\x00b",
            "\x00",
            "\x1b]0;owned\x07",
            "\x1b]52;c;cHduZWQ=\x07",
            "\x1b[2J\x1b[H",
            "\x9b31m",
            "[/]",
            "[link=http://example.com]click[/link]",
            "[bold red]x",
            "line\r\nbreak",
            "module:function",
            "jobtui.demo.seed.checks:smoke_test",
            "not a call",
            "",
            " ",
            "\t",
            "\u00e9t\u00e9",
            "\ufeff",
        ]
    ),
    st.builds(lambda n, u: f"+{n}{u}", st.integers(0, 99999), st.sampled_from("smhd")),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 99999), st.sampled_from("smhd")),
    DATETIMES.map(lambda d: d.isoformat()),
    DATES.map(lambda d: d.isoformat()),
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),  # TOML's integers are 64-bit
    st.floats(),  # nan and ±inf are TOML values too
    st.text(max_size=12),
    TRICKY_STRINGS,
    DATETIMES,
    DATES,
    TIMES,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEY_NAMES, inner, max_size=3)),
    max_leaves=5,
)
# A [schedule] value: mostly what the key expects, sometimes anything.
SCHEDULE_VALUES = st.one_of(
    TRICKY_STRINGS,
    st.fixed_dictionaries(
        {}, optional={"from": st.one_of(TRICKY_STRINGS, TIMES), "to": st.one_of(TRICKY_STRINGS, TIMES)}
    ),
    st.lists(st.sampled_from(["mon", "tue", "fri", "sun", "xyz", ""]), max_size=4),
    VALUES,
)

# -- a TOML writer for the subset the strategies build (tomllib only reads) -------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def toml_text(doc: dict[str, Any]) -> str:
    """Scalars first, then [tables], then [[arrays of tables]], as people write definition files."""
    lines: list[str] = []
    tail: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tail.append(f"[[{_toml_key(key)}]]")
                tail.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items())
        else:
            lines.insert(0, f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines + tail) + "\n"


# -- mutations ---------------------------------------------------------------------------------------------


def _slots(node: Any, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every place a value sits in the document: (its container, its key or index)."""
    if isinstance(node, dict):
        for key in list(node):
            found.append((node, key))
            _slots(node[key], found)
    elif isinstance(node, list):
        for index in range(len(node)):
            found.append((node, index))
            _slots(node[index], found)
    return found


@st.composite
def mutated_doc(
    draw: st.DrawFn,
    seed: str,
    keys: st.SearchStrategy[str],
    fix: Callable[[st.DrawFn, dict[str, Any]], None] | None = None,
) -> str:
    """The seed with a few keys dropped, renamed, retyped, copied or added; `fix` then takes out values
    that triggered a bug fixed since (regression tests below)."""
    doc: dict[str, Any] = copy.deepcopy(tomllib.loads(seed))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["drop", "rename", "retype", "tricky", "add", "schedule", "copy"]))
        slots = _slots(doc, [])
        if kind == "schedule":
            table = doc.setdefault("schedule", {})
            if isinstance(table, dict):
                table[draw(st.sampled_from(SCHEDULE_KEYS))] = draw(SCHEDULE_VALUES)
            continue
        if kind == "add":
            containers = [doc, *(c[k] for c, k in slots if isinstance(c[k], dict | list))]
            target = draw(st.sampled_from(containers))
            if isinstance(target, dict):
                target[draw(keys)] = draw(VALUES)
            else:
                target.append(draw(VALUES))
            continue
        if not slots:
            continue
        container, key = draw(st.sampled_from(slots))
        if kind == "drop":
            del container[key]
        elif kind == "rename" and isinstance(container, dict):
            container[draw(keys)] = container.pop(key)
        elif kind == "retype":
            container[key] = draw(VALUES)
        elif kind == "tricky":
            container[key] = draw(TRICKY_STRINGS)
        elif kind == "copy" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        elif kind == "copy":
            container[draw(keys)] = copy.deepcopy(container[key])
    if fix is not None:
        fix(draw, doc)
    return toml_text(doc)


@st.composite
def line_mutated(draw: st.DrawFn, text_: str) -> str:
    """Edits a person (or a bad merge) makes to the text itself: lines lost, doubled, cut or garbled."""
    lines = text_.splitlines()
    for _ in range(draw(st.integers(0, 2))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "double", "garble", "cut", "swap"]))
        if kind == "drop":
            del lines[at]
        elif kind == "double":
            lines.insert(at, lines[at])
        elif kind == "garble":
            col = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:col] + draw(st.text(min_size=1, max_size=4)) + lines[at][col:]
        elif kind == "cut":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        else:
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
    return "\n".join(lines) + "\n"


DEFINITION_TEXTS = st.one_of(
    st.sampled_from(SEEDS).flatmap(lambda seed: mutated_doc(seed, KEY_NAMES)).flatmap(line_mutated),
    st.sampled_from(SEEDS).flatmap(line_mutated),
    st.text(max_size=60),
    # Nesting deep enough to exhaust a recursive parser.
    st.builds(lambda n: "targets = " + "[" * n + "]" * n + "\n", st.integers(50, 3000)),
)


def _keys_of(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys_of(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys_of(v)}
    return set()


def assert_names_file_and_field(exc: DefinitionError, text_: str | None, source: str) -> None:
    """Every problem starts with the file (and line); all but file-level and TOML syntax problems name
    a field in quotes, first thing quoted: a key the format knows, or the unknown key the file used."""
    assert exc.errors, "a DefinitionError without any problem"
    assert str(exc) == "\n".join(exc.errors)
    keys = set(FIELD_NAMES)
    if text_ is not None:
        with contextlib.suppress(tomllib.TOMLDecodeError, RecursionError):
            keys |= _keys_of(tomllib.loads(text_))
    prefix = re.compile(rf"{re.escape(source)}(:\d+)?: ")
    for error in exc.errors:
        located = prefix.match(error)
        assert located is not None, f"does not start with {source}: {error!r}"
        message = error[located.end() :]
        if message.startswith(("invalid TOML: ", "cannot read file: ")):
            continue
        first_quote = message.find('"')
        # Problems are one line each, so line breaks in a key are shown escaped.
        shown = {key.replace("\r", "\\r").replace("\n", "\\n") for key in keys}
        assert any(message.find(f'"{key}"') == first_quote >= 0 for key in shown), (
            f"names no field: {error!r}"
        )


def assert_resolves_or_names_field(definition: Definition) -> None:
    """What submission does next: an accepted file either schedules or is refused naming a field."""
    try:
        schedules.resolve(definition, START)
        event("resolved")
    except TimeParseError:
        return  # Actions.submit prefixes these with the file name; the text names the value
    except ValueError as exc:
        # The field, at its line when the file writes it (a default's has none), as a parse error is.
        named = re.match(rf'{re.escape(definition.source)}(?::(\d+))?: \[schedule\] "(\w+)"', str(exc))
        assert named is not None, str(exc)
        line, key = named.groups()
        assert key in ("at", "max_start", "start", "expires", "window"), str(exc)
        written = definition.schedule.line(key)
        assert line == (str(written) if written is not None else None), str(exc)


@FILE_SETTINGS
@given(text_=DEFINITION_TEXTS)
def test_a_definition_is_accepted_or_refused_naming_file_and_field(text_: str) -> None:
    note(text_)
    try:
        definition = parse_definition(text_, "f.toml")
    except DefinitionError as exc:
        event(
            "refused: invalid TOML"
            if "invalid TOML" in str(exc)
            else f"refused: {len(exc.errors)} problem(s)"
        )
        assert_names_file_and_field(exc, text_, "f.toml")
        return
    event("accepted")
    # The stored copy of an accepted definition is what the engine runs later: it must come back whole.
    assert Definition.from_dict(definition.to_dict()) == definition
    assert_resolves_or_names_field(definition)


@FILE_SETTINGS
@given(
    seed=st.sampled_from(SEEDS),
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=4)), max_size=3),
)
def test_a_definition_file_with_garbage_bytes_is_accepted_or_refused(
    seed: str, cuts: list[tuple[int, bytes]], files_dir: Path
) -> None:
    raw = seed.encode()
    for at, garbage in cuts:
        at %= len(raw) + 1
        raw = raw[:at] + garbage + raw[at:]
    path = files_dir / "f.toml"
    path.write_bytes(raw)
    try:
        definition = load_definition(path)
    except DefinitionError as exc:
        try:
            decoded: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
            (error,) = exc.errors
            assert error.startswith(f"{path}: cannot read file: not UTF-8 text ("), error
        assert_names_file_and_field(exc, decoded, str(path))
        return
    assert definition.source == str(path)


def test_the_toml_writer_round_trips_the_seeds() -> None:
    for seed in SEEDS:
        assert tomllib.loads(toml_text(tomllib.loads(seed))) == tomllib.loads(seed)


# -- envelope files ----------------------------------------------------------------------------------------

GOOD_DEFINITION = 'name = "build"\nproject = "payments"\n[[run]]\nrun = "make"\n'
# Paths an envelope may name, relative to it. Never NUL (a regression test below), never an absolute path: a
# random "/dev/..." could block the test on a device read.
ENVELOPE_FILES = st.one_of(
    st.sampled_from(
        ["good.toml", "other.toml", "bad.toml", "binary.toml", "missing.toml", "e.toml", "sub", ".", "", " "]
    ),
    st.text(max_size=10).filter(lambda s: "\x00" not in s and not s.startswith("/")),
)
ENVELOPE_SEED = """\
envelope = "release-42"
project = "payments"
[[jobs]]
file = "good.toml"
[[jobs]]
file = "good.toml"
at = "+10m"
max_start = "+1h"
"""


def safe_files(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """Replace any "file" value with a NUL or a leading "/" (see ENVELOPE_FILES) by a safe path."""
    for container, key in _slots(doc, []):
        value = container[key]
        if key == "file" and isinstance(value, str) and ("\x00" in value or value.startswith("/")):
            container[key] = draw(ENVELOPE_FILES)


ENVELOPE_KEY_NAMES = st.one_of(st.sampled_from(ENVELOPE_KEYS), KEY_NAMES)
ENVELOPE_TEXTS = st.one_of(
    mutated_doc(ENVELOPE_SEED, ENVELOPE_KEY_NAMES, fix=safe_files).flatmap(line_mutated),
    # Well-formed envelopes over every kind of file: chains that load, and chains that mix projects.
    st.builds(
        lambda name, files: toml_text({"envelope": name, "jobs": [{"file": f} for f in files]}),
        st.one_of(st.just("release-42"), st.text(max_size=8)),
        st.lists(st.one_of(st.sampled_from(["good.toml", "other.toml"]), ENVELOPE_FILES), max_size=3),
    ),
)


@pytest.fixture(scope="module")
def files_dir() -> Iterator[Path]:
    """Definition files for envelopes to name; module-scoped, so hypothesis may share it."""
    with tempfile.TemporaryDirectory(prefix="jobtui-prop-files-") as root:
        base = Path(root)
        (base / "good.toml").write_text(GOOD_DEFINITION)
        (base / "other.toml").write_text(GOOD_DEFINITION.replace("payments", "web"))
        (base / "bad.toml").write_text('name = "bad"\ntimeot = "1m"\n')
        (base / "binary.toml").write_bytes(b"name = \xff\xfe\n")
        (base / "sub").mkdir()
        yield base


@FILE_SETTINGS
@given(
    text_=ENVELOPE_TEXTS,
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=3)), max_size=1),
)
def test_an_envelope_file_loads_or_is_corrupt_with_its_reason(
    text_: str, cuts: list[tuple[int, bytes]], files_dir: Path
) -> None:
    raw = text_.encode()
    for at, garbage in cuts:
        at %= len(raw) + 1
        raw = raw[:at] + garbage + raw[at:]
    path = files_dir / "e.toml"
    path.write_bytes(raw)
    note(repr(raw))
    try:
        spec = load_envelope(path)
    except EnvelopeCorrupt as exc:
        event("corrupt: invalid TOML" if "invalid TOML" in exc.reason else "corrupt")
        assert exc.source == str(path)
        assert str(exc) == exc.reason
        assert exc.reason.startswith(f"{path}"), exc.reason
        assert exc.name and exc.project
        return
    event("loaded")
    assert spec.entries, "an envelope without jobs was accepted"
    assert {entry.definition.project for entry in spec.entries} == {spec.project}


# ==========================================================================================================
# Bugs these properties found, kept as regression tests (the strategies above still steer clear of those
# inputs, so that a regression shows here under its own name)
# ==========================================================================================================


@pytest.mark.parametrize("zone", ["Europe", "Etc"])
def test_fixed_a_timezone_that_is_a_tzdata_directory_is_refused(zone: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition(f'name = "x"\n[schedule]\ntimezone = "{zone}"\n', "f.toml")
    assert refused.value.errors == [
        f'f.toml:3: [schedule] "timezone": "{zone}" is not a known time zone (try "Europe/Zurich" or "UTC")'
    ]


@pytest.mark.parametrize(
    "lines",
    [
        'at = "+100000000d"',
        'max_start = "+100000000d"',
        'expires = "+100000000d"',
        'at = "0001-01-01T00:00:00+14:00"',
        "at = 0001-01-01T00:00:00+14:00",
        'expires = "9999-12-31T23:59:59-12:00"',
    ],
)
def test_fixed_a_date_beyond_the_calendar_is_refused(lines: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition(f'name = "x"\n[schedule]\n{lines}\n', "f.toml")
    (error,) = refused.value.errors
    assert error.startswith(f'f.toml:3: [schedule] "{lines.split()[0]}": ')


def test_fixed_an_accepted_expiry_on_the_last_day_of_the_calendar_is_submittable() -> None:
    try:
        definition = parse_definition('name = "x"\n[schedule]\nexpires = "9999-12-31"\n', "f.toml")
    except DefinitionError as exc:
        assert '"expires"' in str(exc)
        return
    with contextlib.suppress(ValueError):  # a refusal naming the field is fine; a traceback is not
        schedules.resolve(definition, START)


@pytest.mark.parametrize(
    "body",
    ['"a\\nb" = 1', '[schedule]\ntimezone = "a\\nb"', '[schedule]\nat = "a\\nb"', 'trap_timeout = "a\\nb"'],
)
def test_fixed_every_line_of_a_refusal_starts_with_the_file(body: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition(f'name = "x"\n{body}\n', "f.toml")
    for line in str(refused.value).splitlines():
        assert line.startswith("f.toml:"), line


def test_fixed_an_envelope_naming_a_path_with_nul_is_corrupt(files_dir: Path) -> None:
    path = files_dir / "nul.toml"
    path.write_text('envelope = "x"\n[[jobs]]\nfile = "a\\u0000b"\n')
    with pytest.raises(EnvelopeCorrupt) as corrupt:
        load_envelope(path)
    assert corrupt.value.reason.startswith(f"{path}:")


@pytest.mark.parametrize(
    "body",
    [
        '[[run]]\nrun = "true"\ntimeout = "100000000d"',
        'trap_timeout = "100000000d"\n[[run]]\nrun = "exit 1"\non_error = "trap"',
        '[schedule]\nretry_every = "100000000d"\n[[run]]\nrun = "exit 1"',
    ],
)
def test_fixed_an_accepted_huge_duration_runs_without_breaking_the_engine(
    body: str, actions: Actions, engine: Engine, store: Store
) -> None:
    try:
        definition = parse_definition(f'name = "huge"\n{body}\n', "f.toml")
    except DefinitionError as exc:
        assert re.search(r'"(timeout|trap_timeout|retry_every)"', str(exc))
        return
    job_id = actions.submit(definition, keep=True)
    engine.run_until(lambda: not engine.busy, timeout=10)
    with store.engine.connect() as conn:
        op_statuses = [
            r[0] for r in conn.execute(text("SELECT status FROM op_runs WHERE job_id = :j"), {"j": job_id})
        ]
    assert "running" not in op_statuses
    if "exit 1" in body:
        assert status_of(store, job_id) != Status.FINISHED


def test_fixed_a_database_error_while_recording_a_failed_op_does_not_finish_the_job(
    actions: Actions, engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = actions.submit(
        parse_definition('name = "x"\n[[run]]\nname = "deploy"\nrun = "exit 1"\n', "x.toml")
    )
    engine.tick()  # claims the job and starts its op
    real_write = store.write
    outage = {"writes_to_fail": 1}

    @contextlib.contextmanager
    def write_during_outage(walking: bool = False) -> Iterator[Any]:
        if outage["writes_to_fail"]:
            outage["writes_to_fail"] -= 1
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        with real_write(walking) as session:
            yield session

    # The engine's next write after the op's launch is the one that records how the op ended.
    monkeypatch.setattr(store, "write", write_during_outage)
    deadline = time.monotonic() + 10
    while outage["writes_to_fail"] and time.monotonic() < deadline:
        with contextlib.suppress(OperationalError):  # what Engine._loop does: back off, carry on
            engine.tick()
        time.sleep(0.02)
    monkeypatch.setattr(store, "write", real_write)
    assert outage["writes_to_fail"] == 0, "the engine never wrote after the op started"

    engine.run_until(lambda: not engine.busy, timeout=10)

    with store.engine.connect() as conn:
        op = conn.execute(
            text("SELECT status, exit_code FROM op_runs WHERE job_id = :j"), {"j": job_id}
        ).one()
    assert (status_of(store, job_id), tuple(op)) == (Status.ERROR, ("failed", 1))
