"""Driving the dashboard with Textual's Pilot: the app, the screen, waits and selection."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.screens.monitor import MonitorScreen
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable

SIZE = (160, 48)


def app_for(store: Store, **kwargs: object) -> JobtuiApp:
    # The test drives its own engine, so the app never embeds one.
    return JobtuiApp(store, Actor("tester"), embedded=False, tz="UTC", **kwargs)  # type: ignore[arg-type]


def monitor(pilot: Pilot[int]) -> MonitorScreen:
    screen = pilot.app.screen_stack[1]
    assert isinstance(screen, MonitorScreen)
    return screen


async def until(pilot: Pilot[int], predicate: Callable[[], bool], what: str = "the screen") -> None:
    """Let the app's refresh loop run until the screen shows what the test expects."""
    for _ in range(200):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def shown_job(pilot: Pilot[int]) -> int | None:
    detail = monitor(pilot).query_one(DetailPane).detail
    return None if detail is None else int(detail.job["id"])


async def select_job(pilot: Pilot[int], job_id: int) -> None:
    table = monitor(pilot).query_one(JobTable)
    await until(pilot, lambda: table.total > 0, "rows")
    for _ in range(table.total):
        if table.selected_job_id() == job_id:
            break
        await pilot.press("down")
    await until(pilot, lambda: shown_job(pilot) == job_id, f"job {job_id} in the detail pane")


def simple(name: str = "j", extra: str = "") -> str:
    return f'name = "{name}"\n{extra}\n[[run]]\nrun = "echo hello from {name}"\n'
