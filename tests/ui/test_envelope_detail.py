"""The envelopes view has the detail pane too: the job under the tree's cursor, with its tasks and log."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.envelope_tree import EnvelopeTree
from tests.support.pilot import app_for, monitor, open_envelopes, shown_job, submit_envelope, until


async def test_the_job_under_the_tree_cursor_shows_in_the_detail_pane(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    jobs = {"build": "true", "ship": "true"}
    _envelope, (first, _second) = submit_envelope(actions, tmp_path, "release-7", jobs)
    async with app_for(store).run_test(size=(140, 44)) as pilot:
        tree = await open_envelopes(pilot)
        pane = monitor(pilot).query_one(DetailPane)
        await pilot.press("space")  # open the envelope
        for _ in range(6):
            if tree.selected_job_id() == first:
                break
            await pilot.press("down")
        assert tree.selected_job_id() == first
        await until(pilot, lambda: shown_job(pilot) == first, "the job in the pane")
        assert pane.display and pane.region.height > 10  # on screen under the tree, not hidden with the table


async def _cursor_on_envelope_line(pilot: Pilot[int], envelope: int) -> Static:
    """Opens the envelopes view with its cursor on `envelope`'s line; returns the pane's info block, once it
    shows the envelope."""
    tree = await open_envelopes(pilot)
    pane = monitor(pilot).query_one(DetailPane)
    for _ in range(6):
        if tree.selected_envelope_id() == envelope and tree.selected_job_id() is None:
            break
        await pilot.press("down")
    assert tree.selected_envelope_id() == envelope and tree.selected_job_id() is None
    await until(pilot, lambda: pane.is_built, "the pane's widgets")
    info = pane.query_one("#detail-info", Static)
    await until(pilot, lambda: f"Envelope #{envelope} " in str(info.render()), "the envelope in the pane")
    return info


async def test_the_envelope_under_the_tree_cursor_shows_its_status_and_chain(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    jobs = {"build": "true", "ship": "true"}
    envelope, (first, second) = submit_envelope(actions, tmp_path, "release-8", jobs)
    async with app_for(store).run_test(size=(140, 44)) as pilot:
        info = await _cursor_on_envelope_line(pilot, envelope)

        def said() -> str:
            return str(info.render())

        assert f"Envelope #{envelope} release-8" in said()
        assert "2 jobs, in chain order" in said()
        lines = said().splitlines()
        at_build = next(n for n, line in enumerate(lines) if f"#{first} build" in line)
        at_ship = next(n for n, line in enumerate(lines) if f"#{second} ship" in line)
        assert at_build < at_ship and "Ready" in lines[at_build]
        assert shown_job(pilot) is None  # no job: the job keys have nothing to act on
        await pilot.press("space", "down")  # open it, onto its first job
        await until(pilot, lambda: shown_job(pilot) == first, "the first job in the pane")
        assert "Envelope #" not in said()


async def test_the_envelope_in_the_pane_follows_its_jobs_while_the_cursor_rests_on_it(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    jobs = {"build": "true", "ship": "true"}
    envelope, (first, _second) = submit_envelope(actions, tmp_path, "release-9", jobs)
    async with app_for(store).run_test(size=(140, 44)) as pilot:
        info = await _cursor_on_envelope_line(pilot, envelope)
        tree = monitor(pilot).query_one(EnvelopeTree)

        def first_line() -> str:
            return next(line for line in str(info.render()).splitlines() if f"#{first} build" in line)

        assert "Ready" in first_line()
        actions.cancel(first, "not this release")  # from elsewhere: another operator, the CLI
        await until(pilot, lambda: "Cancel" in first_line(), "the cancelled job in the envelope's lines")
        assert tree.selected_envelope_id() == envelope and tree.selected_job_id() is None


@pytest.mark.parametrize("dashboard", ["remapped", "read-only"])
async def test_the_envelopes_hint_names_the_keys_in_force(
    dashboard: str, store: Store, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hint named b, c and n whatever keys.toml said, and offered rollback and cancel on a read-only
    dashboard, which has neither key."""
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\nrollback = "R"\nnotifications = "N"\n')
    monkeypatch.setenv("JOBTUI_KEYS", str(keys))
    envelope, _jobs = submit_envelope(actions, tmp_path, "release-10", {"build": "true"})
    async with app_for(store, readonly=dashboard == "read-only").run_test(size=(140, 44)) as pilot:
        info = await _cursor_on_envelope_line(pilot, envelope)
        hint = str(info.render()).splitlines()[-1]
        if dashboard == "remapped":
            assert hint.endswith(" · R rolls the envelope back · c cancels it · N its notifications"), hint
        else:
            assert hint.endswith("tasks, steps and log · N its notifications"), hint


async def test_the_envelopes_hint_keeps_its_keys_while_the_command_line_is_open(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    """Found by review: redrawn while the command line had the focus (it takes the printable keys), the
    hint lost every key, and kept it so once the line closed."""
    envelope, (first, _second) = submit_envelope(
        actions, tmp_path, "release-11", {"build": "true", "ship": "true"}
    )
    async with app_for(store).run_test(size=(140, 44)) as pilot:
        info = await _cursor_on_envelope_line(pilot, envelope)
        before = str(info.render()).splitlines()[-1]
        assert "b rolls the envelope back" in before
        await pilot.press("colon")  # the command line, which takes printable keys
        actions.cancel(first, "elsewhere")
        await until(pilot, lambda: "Cancel" in str(info.render()), "the canceled job in the envelope's lines")
        # Its jobs all ended (the chain cancelled the second): nothing is left to cancel, and `c` is no
        # longer offered (found by an operator: it was on ended and rolled-back envelopes alike).
        assert "c cancels it" in before
        assert str(info.render()).splitlines()[-1] == before.replace(" · c cancels it", "")
