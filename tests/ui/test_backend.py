"""The monitor's first rows come from the plain reader, before SQLAlchemy and the engine are imported; the
Store opens behind them (or first, when the database must be created, migrated or healed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from jobtui.app import JobtuiApp
from jobtui.engine.db import counts
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.backend import Backend
from tests.support.helpers import definition
from tests.support.pilot import SIZE, monitor, shown_job, simple, tree_of, until

ROOT = Path(__file__).resolve().parent.parent

# In a fresh interpreter: what was imported when the first rows were painted, and what the monitor
# showed once the Store had opened behind them.
FIRST_PAINT = """
import asyncio, json, sys
from jobtui.app import JobtuiApp
from jobtui.engine.service.backend import Backend
from jobtui.engine.domain.permissions import Actor
from jobtui.screens.monitor import MonitorScreen

seen = {}
first_painted = MonitorScreen._first_painted

def noted(self):
    seen.setdefault("sqlalchemy_at_paint", "sqlalchemy" in sys.modules)
    seen.setdefault("rows_at_paint", self.table.total)
    first_painted(self)

MonitorScreen._first_painted = noted

async def main():
    actor = Actor("tester")
    backend = Backend.for_url(sys.argv[1], actor)
    seen["open_before_app"] = backend.is_open
    app = JobtuiApp(backend, actor, embedded=False, tz="UTC")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen_stack[1]
        for _ in range(400):
            detail = screen.query_one("#detail").detail
            if detail is not None:
                seen["detail"] = detail.job["id"]
                break
            await pilot.pause(0.05)
    print(json.dumps(seen))

asyncio.run(main())
"""


def _first_paint(url: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBTUI_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT, url], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.backends("sqlite", "postgresql")
def test_first_rows_are_painted_before_sqlalchemy_is_imported(store: Store, actions: Actions) -> None:
    ids = actions.submit_many(definition(simple("listed")), 3)
    seen = _first_paint(store.url)
    assert seen["open_before_app"] is False
    assert seen["sqlalchemy_at_paint"] is False
    assert seen["rows_at_paint"] == 3
    # The Store opened behind the rows: the detail pane and the engine's verdict on the keys followed.
    assert seen["detail"] == max(ids)


def test_a_database_the_reader_cannot_list_as_it_is_is_opened_by_the_store_first(tmp_path: Path) -> None:
    actor = Actor("tester")
    missing = f"sqlite:///{tmp_path / 'new.db'}"
    backend = Backend.for_url(missing, actor)
    assert backend.is_open  # the Store created it, with its schema
    assert backend.listing.ready()

    ready = Backend.for_url(missing, actor)
    assert not ready.is_open  # nothing to create, migrate or heal: listed at once, the Store opens later

    with Store(missing).engine.begin() as conn:  # a bulk load died with the count triggers dropped
        for statement in counts.DROP_TRIGGERS:
            conn.execute(text(statement))
    healing = Backend.for_url(missing, actor)
    assert healing.is_open
    assert healing.listing.ready()


async def test_a_store_that_fails_to_open_behind_the_rows_ends_the_app_with_its_reason(
    store: Store, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("JOBTUI_LOG_DIR", str(blocker / "logs"))
    actor = Actor("tester")
    backend = Backend.for_url(store.url, actor)
    app = JobtuiApp(backend, actor, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not app.is_running, "the app to give up")
    assert isinstance(app.failed, OSError)
    assert app.return_code == 2


async def test_the_detail_pane_waits_for_the_store_and_then_follows_the_cursor(
    store: Store, actions: Actions
) -> None:
    first, second = actions.submit_many(definition(simple("one")), 2)
    actor = Actor("tester")
    backend = Backend.for_url(store.url, actor)
    app = JobtuiApp(backend, actor, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: shown_job(pilot) == second, "the newest job's detail")
        assert backend.is_open
        await pilot.press("down")
        await until(pilot, lambda: shown_job(pilot) == first, "the next job's detail")
        assert monitor(pilot).table.total == 2


@pytest.mark.timeout(30)  # the regression is a deadlock of the UI thread: no `until` can time out
async def test_a_dashboard_opening_on_the_envelopes_view_shows_the_tree_once_the_store_opens(
    store: Store, actions: Actions
) -> None:
    """`--view envelopes`: the view read the tree on the UI thread before the Store was open, and waited
    for it there; the Store opens after the first paint, which that wait held off: the screen stayed blank
    for good, deaf to every key."""
    (job_id,) = actions.submit_many(definition(simple("one")), 1)
    actor = Actor("tester")
    backend = Backend.for_url(store.url, actor)
    assert not backend.is_open
    app = JobtuiApp(backend, actor, embedded=False, tz="UTC", view="envelopes")
    async with app.run_test(size=SIZE) as pilot:
        tree = tree_of(pilot)
        await until(pilot, lambda: tree.data is not None and len(tree.data.loose) == 1, "the tree")
        assert tree.data is not None and tree.data.loose[0].id == job_id
        assert monitor(pilot).envelopes_shown
        await pilot.press("1")
        await until(pilot, lambda: monitor(pilot).table.total == 1, "the jobs view")
