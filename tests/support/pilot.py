"""Driving the dashboard with Textual's Pilot: the app, the screen, waits and selection."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.envelope_file import envelope_of_files
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.monitor import MonitorScreen
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.envelope_tree import EnvelopeTree
from jobtui.widgets.job_table import JobTable
from tests.support.helpers import status_of

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


def painted(screen: Screen[Any]) -> tuple[str, list[str]]:
    """The text `screen` paints (one line per row) and the links of its segments: what reaches the
    terminal, so a line cut off by a border or off the screen is not in it."""
    strips = screen._compositor.render_strips()
    segments = [segment for strip in strips for segment in strip if not segment.control]
    links = [segment.style.link for segment in segments if segment.style and segment.style.link]
    text = "\n".join("".join(segment.text for segment in strip if not segment.control) for strip in strips)
    return text, links


def shown_job(pilot: Pilot[int]) -> int | None:
    detail = monitor(pilot).query_one(DetailPane).shown
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


def submit_envelope(
    actions: Actions, directory: Path, name: str, jobs: dict[str, str], project: str = "payments"
) -> tuple[int, list[int]]:
    """An envelope of one definition file per job (name → its run command), each op with a rollback."""
    directory.mkdir(exist_ok=True)
    paths = []
    for job, run in jobs.items():
        path = directory / f"{job}.toml"
        path.write_text(f'name = "{job}"\nproject = "{project}"\n[[run]]\nrun = "{run}"\nrollback = "true"\n')
        paths.append(str(path))
    return EnvelopeActions(actions).submit(envelope_of_files(paths, name))


def run_until_ended(engine: Engine, *job_ids: int) -> None:
    ended = ("FINISHED", "ERROR", "CANCELED", "ROLLEDBACK")
    engine.run_until(lambda: all(status_of(engine.store, i) in ended for i in job_ids))


def tree_of(pilot: Pilot[int]) -> EnvelopeTree:
    return monitor(pilot).query_one(EnvelopeTree)


async def open_envelopes(pilot: Pilot[int]) -> EnvelopeTree:
    tree = tree_of(pilot)
    await pilot.press("2")
    await until(pilot, lambda: tree.has_focus and tree.cursor_node is not None, "the envelope tree")
    return tree


async def run_palette_command(pilot: Pilot[int], prompt: str) -> None:
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
    await pilot.press(*prompt)
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)

    def highlighted() -> bool:
        from textual.command import CommandList

        options = palette.query_one(CommandList)
        index = options.highlighted
        return index is not None and prompt in str(options.get_option_at_index(index).prompt)

    await until(pilot, highlighted, f"{prompt!r} in the palette")
    await pilot.press("enter")
