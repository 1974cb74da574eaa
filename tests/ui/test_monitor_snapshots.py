"""Snapshots of the monitor: fixed data, a frozen clock, no engine of its own — the same picture every run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.envelope_file import EnvelopeCorrupt, envelope_of_files
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.envelope_actions import EnvelopeActions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.dialogs import StatusPicker
from jobtui.screens.log_viewer import LogViewer
from jobtui.screens.monitor import MonitorScreen
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.log_view import LogView
from jobtui.widgets.workers_view import WorkersView
from tests.support.helpers import definition, run_until_status, status_of

SIZE = (150, 44)


@pytest.fixture
def scene(store: Store, actions: Actions, engine: Engine) -> Store:
    """One job in each of several statuses, run by a real engine on the frozen clock."""
    done = actions.submit(
        definition(
            'name = "deploy-web"\ntype = "deploy"\nproject = "payments"\nnatures = ["java"]\n'
            'targets = ["web-01", "web-02"]\n[[pre]]\nname = "build"\nrun = "echo building"\n'
            '[[run]]\nname = "deploy"\nper_target = true\nrun = "echo deploy $JOBTUI_TARGET"\n'
        )
    )
    failed = actions.submit(
        definition('name = "nightly-report"\nproject = "analytics"\n[[run]]\nrun = "exit 2"\n')
    )
    trapped = actions.submit(
        definition(
            'name = "patch-routers"\nproject = "network"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n'
        )
    )
    waiting = actions.submit(
        definition('name = "release-db"\napproval = true\n[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n')
    )
    actions.submit(definition('name = "weekend-maintenance"\nproject = "ops"\n'), at="+2h")
    run_until_status(engine, done, "FINISHED")
    run_until_status(engine, failed, "ERROR")
    run_until_status(engine, trapped, "TRAPPED")
    run_until_status(engine, waiting, "APPROVAL")
    return store


def settled(total: int, job_id: int | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def wait(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen_stack[1]
        assert isinstance(screen, MonitorScreen)
        table = screen.query_one(JobTable)
        pane = screen.query_one(DetailPane)
        for _ in range(200):
            if table.total == total and pane.shown is not None:
                break
            await pilot.pause(0.05)
        if job_id is not None:
            for _ in range(table.total):
                if table.selected_job_id() == job_id:
                    break
                await pilot.press("down")
            for _ in range(200):
                if pane.shown is not None and pane.shown.job["id"] == job_id:
                    break
                await pilot.pause(0.05)
        # Let tables finish sizing their columns and the tab underline finish sliding.
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.3)
        await pilot.wait_for_scheduled_animations()

    return wait


def app(store: Store, lang: str = "en") -> JobtuiApp:
    return JobtuiApp(
        store, Actor("operator"), embedded=False, lang=lang, tz="Europe/Zurich", db_label="jobs.db"
    )


def test_monitor_with_jobs_and_the_detail_of_a_finished_job(scene: Store, snap_compare: Any) -> None:
    assert snap_compare(app(scene), terminal_size=SIZE, run_before=settled(5, job_id=1))


def test_the_monitor_at_80x24(scene: Store, snap_compare: Any) -> None:
    """The smallest supported terminal: the header's essentials, the table, the pane's info and tasks."""
    assert snap_compare(app(scene), terminal_size=(80, 24), run_before=settled(5, job_id=3))


def test_detail_of_a_trapped_job_with_its_countdown(scene: Store, snap_compare: Any) -> None:
    assert snap_compare(app(scene), terminal_size=SIZE, run_before=settled(5, job_id=3))


def test_the_needs_attention_view_with_its_filter_line(scene: Store, snap_compare: Any) -> None:
    """`!`: the failed, trapped and waiting jobs only, the longest waiting first, and the line saying so."""

    async def needs_attention(pilot: Pilot[Any]) -> None:
        await settled(5)(pilot)
        await pilot.press("exclamation_mark")
        screen = pilot.app.screen_stack[1]
        assert isinstance(screen, MonitorScreen)
        table = screen.query_one(JobTable)
        for _ in range(200):
            if table.total == 3 and table.selected_job_id() is not None:
                break
            await pilot.pause(0.05)
        await settled(3)(pilot)

    assert snap_compare(app(scene), terminal_size=SIZE, run_before=needs_attention)


def test_the_status_picker(scene: Store, snap_compare: Any) -> None:
    """`f`: every status with its symbol, the ones in force ticked, the presets under them."""

    async def picker(pilot: Pilot[Any]) -> None:
        await settled(5)(pilot)
        await pilot.press("f")
        for _ in range(100):
            if isinstance(pilot.app.screen, StatusPicker):
                break
            await pilot.pause(0.05)
        await pilot.press("x")  # the failed preset ticked, not applied
        await pilot.pause(0.2)
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(app(scene), terminal_size=SIZE, run_before=picker)


def test_envelope_tree(scene: Store, snap_compare: Any) -> None:
    async def open_tree(pilot: Pilot[Any]) -> None:
        await settled(5)(pilot)
        await pilot.press("2", "down", "space")
        await pilot.pause(0.1)

    assert snap_compare(app(scene), terminal_size=SIZE, run_before=open_tree)


def test_the_palette_with_the_commands_the_job_refuses(scene: Store, snap_compare: Any) -> None:
    """ctrl+p, "re", on the finished job: the commands that may run first, then those the job refuses,
    dimmed, marked, with the engine's reason under each."""

    async def palette(pilot: Pilot[Any]) -> None:
        await settled(5, job_id=1)(pilot)
        await pilot.press("ctrl+p")
        for _ in range(100):
            if isinstance(pilot.app.screen, CommandPalette):
                break
            await pilot.pause(0.05)
        await pilot.press("r", "e")
        options = pilot.app.screen.query_one(CommandList)
        for _ in range(100):
            if any(
                "not available" in str(options.get_option_at_index(i).prompt)
                for i in range(options.option_count)
            ):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.4)  # past the palette's last batch of results
        pilot.app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app(scene), terminal_size=SIZE, run_before=palette)


@pytest.fixture
def envelope_scene(scene: Store, actions: Actions, engine: Engine, tmp_path: Path) -> Store:
    """The scene plus a corrupt envelope and a finished chain of three jobs (the newest envelope)."""
    envelopes = EnvelopeActions(actions)
    envelopes.record_corrupt(
        EnvelopeCorrupt(
            "hotfix-7", "payments", "hotfix.envelope.toml", 'hotfix.envelope.toml:4: unknown key "fiel"'
        )
    )
    paths = []
    for name in ("build", "migrate", "deploy"):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'name = "{name}"\nproject = "payments"\n[[run]]\nrun = "true"\nrollback = "true"\n')
        paths.append(str(path))
    _envelope_id, ids = envelopes.submit(envelope_of_files(paths, "release-42"))
    engine.run_until(lambda: all(status_of(scene, job_id) == "FINISHED" for job_id in ids))
    return scene


def test_envelope_tree_with_envelopes(envelope_scene: Store, snap_compare: Any) -> None:
    async def open_tree(pilot: Pilot[Any]) -> None:
        await settled(8)(pilot)
        # The cursor starts on the newest envelope: unfold it, then its first job's statistics.
        await pilot.press("2", "space", "right", "right")
        screen = pilot.app.screen_stack[1]
        assert isinstance(screen, MonitorScreen)
        for _ in range(200):  # the footer shows `b` enabled once the engine's answer is in
            if screen.check_action("rollback", ()) is True:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.1)

    assert snap_compare(app(envelope_scene), terminal_size=SIZE, run_before=open_tree)


def test_monitor_in_spanish(scene: Store, snap_compare: Any) -> None:
    assert snap_compare(app(scene, lang="es"), terminal_size=SIZE, run_before=settled(5, job_id=1))


def test_the_workers_view(scene: Store, snap_compare: Any) -> None:
    """`3`: the engine with its slots, jobs held and heartbeat, and the last hour's throughput. Its host
    and pid are the machine's: set to fixed ones, so the picture is the same on every machine."""
    with scene.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE workers SET host = 'vm-01', pid = 4242, kind = 'daemon'")

    async def workers(pilot: Pilot[Any]) -> None:
        await settled(5)(pilot)
        await pilot.press("3")
        screen = pilot.app.screen_stack[1]
        assert isinstance(screen, MonitorScreen)
        view = screen.query_one(WorkersView)
        for _ in range(200):
            if view.data is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    assert snap_compare(app(scene), terminal_size=SIZE, run_before=workers)


@pytest.fixture
def log_scene(store: Store, actions: Actions, engine: Engine) -> Store:
    """A finished job whose op wrote to stdout and stderr (apart in time: two pipes keep no order between
    writes a few microseconds apart)."""
    job_id = actions.submit(
        definition(
            'name = "build-api"\nproject = "payments"\n[[run]]\nname = "compile"\n'
            'run = "echo compiling 42 modules; sleep 0.2; echo warning: flag -O1 is deprecated >&2; '
            "sleep 0.2; echo linking api; sleep 0.2; echo error: retrying the upload once >&2; "
            'sleep 0.2; echo uploaded api.tar"\n'
        )
    )
    run_until_status(engine, job_id, "FINISHED")
    return store


def test_the_log_viewer(log_scene: Store, snap_compare: Any) -> None:
    """`l`: the job's log, stderr lines marked in the gutter, the engine's own lines dimmed, a search's
    matches highlighted with the cursor on the first, and the state line."""

    async def log_viewer(pilot: Pilot[Any]) -> None:
        await settled(1, job_id=1)(pilot)
        await pilot.press("l")
        for _ in range(200):
            if (
                isinstance(pilot.app.screen, LogViewer)
                and "uploaded api.tar" in pilot.app.screen.query_one(LogView).model.lines
            ):
                break
            await pilot.pause(0.05)
        await pilot.press("slash", *"api", "enter")
        await pilot.pause(0.2)

    assert snap_compare(app(log_scene), terminal_size=(120, 30), run_before=log_viewer)
