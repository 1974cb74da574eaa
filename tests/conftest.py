"""Shared fixtures: a real SQLite file per test, a clock only the test moves, a real engine."""

from __future__ import annotations

import atexit
import compileall
import contextlib
import gc
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import textual._wait
from _pytest.unraisableexception import gc_collect_iterations_key
from sqlalchemy.orm import configure_mappers

import jobtui.engine.db.store
from jobtui.engine.db.models import Base
from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from tests.support import pg
from tests.support.compiled_sql import COMPILED_SQL, share_flush_sql
from tests.support.headless_frames import skip_headless_frames
from tests.support.helpers import (  # noqa: F401
    ROOT,
    START,
    definition,
    job_of,
    live_pids_of_group,
    run_until_status,
    status_of,
    wait_for,
)
from tests.support.parsed_css import parse_css_once_a_process
from tests.support.pg import PgCluster
from tests.support.scratch import scratch_in_memory
from tests.support.template_db import migrated_sqlite

scratch_in_memory()
# jobtui's default data folder (logs of databases that name no log folder) belongs to this test process
# alone: never the user's, and never shared between parallel test workers.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="jobtui-test-data-")
# Nor the user's dashboard config (a theme picked in a test is kept in it): one empty folder of this
# process's; a test that needs a config file points JOBTUI_CONFIG at its own.
os.environ["JOBTUI_CONFIG"] = str(Path(tempfile.mkdtemp(prefix="jobtui-test-config-")) / "config.toml")
# Both go with the process (thousands were left in /tmp, eight a run).
for _folder in (os.environ["XDG_DATA_HOME"], str(Path(os.environ["JOBTUI_CONFIG"]).parent)):
    atexit.register(shutil.rmtree, _folder, ignore_errors=True)

# After each key it types, Textual's pilot sleeps until the process's CPU time stops moving, in 20 ms
# steps, twice: 40 ms a key at the least, a seventh of the dashboard tests' time. Five-millisecond steps
# wait just as surely for the app to have handled the key (the pilot also waits for every widget's queue
# to empty) and a quarter as long.
textual._wait.SLEEP_GRANULARITY = 0.005
textual._wait.SLEEP_IDLE = textual._wait.SLEEP_GRANULARITY / 20

# Every Store and every app of a test process share the SQL compiled and the CSS parsed: each test's own
# compiled and parsed them again (see tests/support/compiled_sql.py and parsed_css.py).
_create_engine = jobtui.engine.db.store.create_engine


def _create_engine_sharing_compiled_sql(url: str, **kwargs: Any) -> Any:
    return _create_engine(url, execution_options={"compiled_cache": COMPILED_SQL}, **kwargs)


jobtui.engine.db.store.create_engine = _create_engine_sharing_compiled_sql  # type: ignore[assignment]
configure_mappers()
share_flush_sql(list(Base.registry.mappers))
parse_css_once_a_process()
skip_headless_frames()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL server for the session; tests on it get a database each."""
    reason = pg.missing_reason()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    cluster = PgCluster(spares=2)
    try:
        cluster.start()
    except Exception as exc:
        cluster.stop()
        raise RuntimeError(f"could not start a throwaway PostgreSQL cluster: {exc}") from exc
    yield cluster
    cluster.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set BACKENDS = ("sqlite", "postgresql") run their tests on each backend; a test marked
    `backends("sqlite")` runs on those only."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    only = metafunc.definition.get_closest_marker("backends")
    if only is not None:
        backends = only.args
    if backends and "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", backends, indirect=True)


def pytest_configure(config: pytest.Config) -> None:
    """The tests start the `jobtui` command, daemons and op starters hundreds of times, each a new Python.
    Where PYTHONDONTWRITEBYTECODE is set (CI's machines set it) none of them keeps what it compiled, and
    each compiled jobtui's sources again (60 ms a command here): compiled once, by the controller, before
    the workers start."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "jobtui", quiet=1)
    # As it ends, pytest runs the collector five times over (unraisable exceptions raised by finalizers):
    # over everything a worker's tests left, 2.8 s of every worker's last seconds, which the run waits for.
    # One is kept: what only a later pass would have found goes unreported, for seconds off every run.
    config.stash[gc_collect_iterations_key] = 1


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (every module, test and parameter: most of a worker's heap) lives until the
    end: out of the collector's sight, its full passes walk only what the tests make (a few hundred
    milliseconds each before, a tenth of the dashboard tests' time)."""
    gc.collect()
    gc.freeze()
    # A full collection walks every object the tests made so far (apps, sessions, their caches): at
    # Python's default (one every tenth gen-1 pass), 68 of them took 11.7 s of the 91 s of CPU of a run of
    # test_monitor, test_commands and test_envelopes; at one every hundredth, 12 took 6.4 s (87 s in all,
    # measured side by side). The garbage of a few tests waits for it, no more.
    gc.set_threshold(700, 10, 100)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests run first: at the end of the run, a worker that took one of them last would keep
    the others waiting for as long as it lasts (work stealing moves only tests not yet started)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if getattr(request, "param", "sqlite") == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        return cluster.new_database()
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Store:
    if db_url.startswith("sqlite:///"):
        migrated_sqlite(Path(db_url.removeprefix("sqlite:///")))
    return Store(db_url, clock=clock)


@pytest.fixture
def actions(store: Store) -> Actions:
    """Single-user mode: no policy, the local user may do everything."""
    return Actions(store, Actor("tester"))


@pytest.fixture
def engine(store: Store) -> Iterator[Engine]:
    eng = Engine(store, workers=2, kill_grace_s=5.0)
    yield eng
    eng.shutdown()  # first: its slots start nothing after it
    _kill_op_processes(store)


def _kill_op_processes(store: Store) -> None:
    """Never leave a test's op processes behind, whatever the test did."""
    from sqlalchemy import select

    from jobtui.engine.db.models import OpRun

    with store.read() as s:
        pids = s.scalars(select(OpRun.pid).where(OpRun.pid.is_not(None))).all()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def submit(actions: Actions) -> Callable[..., int]:
    def _submit(text: str, keep: bool = True, **kwargs: str) -> int:
        # Independent jobs unless a test asks for seed 003 replacement with keep=False.
        return actions.submit(definition(text), keep=keep, **kwargs)

    return _submit
