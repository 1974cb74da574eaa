"""A job row changed outside jobtui (`UPDATE jobs SET status='BOGUS'`) does not take the dashboard down:
the table still lists every job (an unknown status as its code with a "?"), and the row under the cursor
is named, with its field, in a notice; its pane stays empty, so no action is offered on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.widgets.job_table import JobTable
from tests.support.pilot import (
    SIZE,
    app_for,
    monitor,
    open_envelopes,
    painted,
    select_job,
    shown_job,
    submit_envelope,
    until,
)


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ("status = 'BOGUS'", 'status "BOGUS" is not a job status'),
        ("status = 'CLEAR' || char(27) || '[2J'", 'status "CLEAR^[[2J" is not a job status'),
        ("natures = 'xx'", 'natures "xx" is not a JSON list of names'),
        ("scheduled_at = 'garbage'", 'scheduled_at "garbage" is not a date'),
        # The table drew the percentage with arithmetic: the whole dashboard stopped on a TypeError.
        ("progress = 'x'", 'progress "x" is not a percentage from 0 to 100'),
        ("schedule = '{bad'", 'schedule "{bad" is not a schedule as jobtui writes it'),
        ("definition = 'garbage'", 'definition "garbage" is not a definition as jobtui writes it'),
        # SQLite keeps a blob in a text column: formatting the name stopped the listing.
        ("name = X'ff'", """name "b'\\xff'" is not text"""),
    ],
)
async def test_a_corrupt_row_is_listed_and_named_when_selected(
    store: Store, submit: Callable[..., int], update: str, named: str
) -> None:
    bad = submit('name = "bad"\n[[run]]\nrun = "true"\n')
    good = submit('name = "good"\n[[run]]\nrun = "true"\n')
    with store.write() as s:
        s.execute(text(f"UPDATE jobs SET {update} WHERE id = {bad}"))
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await select_job(pilot, good)
        table = monitor(pilot).query_one(JobTable)
        assert table.total == 2
        await pilot.press("down")
        await until(pilot, lambda: table.selected_job_id() == bad, "the cursor on the corrupt job")
        said = lambda: [n.message for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: any(f"job {bad}: {named}" in m for m in said()), "the notice")
        assert shown_job(pilot) is None
        assert monitor(pilot).allowed == {}
        if "BOGUS" in update:
            assert "BOGUS?" in painted(app.screen)[0]
        if "CLEAR" in update:  # shown, never obeyed by the terminal
            assert "CLEAR^[[2J?" in painted(app.screen)[0]
        assert app.is_running


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ("name = X'ff'", """name "b'\\xff'" is not text"""),
        ("status = 'GARBAGE'", 'status "GARBAGE" is not a job status'),
    ],
)
async def test_a_corrupt_job_of_an_envelope_leaves_the_tree_up_and_its_envelope_no_success(
    store: Store, actions: Actions, tmp_path: Path, update: str, named: str
) -> None:
    """The envelope view read the chain's names and statuses as they were: a blob for a name, or a status
    jobtui does not know, stopped the whole dashboard as the view opened."""
    envelope_id, (first, bad) = submit_envelope(
        actions, tmp_path / "e", "release-7", {"a": "true", "b": "true"}
    )
    with store.write() as s:
        s.execute(text(f"UPDATE jobs SET {update} WHERE id = {bad}"))
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        envelope = tree.root.children[0]
        envelope.expand()
        await pilot.pause()
        label = str(envelope.label)
        assert f"#{envelope_id} release-7" in label
        if "status" in update:  # a job jobtui cannot read is no success of its envelope
            assert "Errors, active" in label, label
        assert [child.data["job_id"] for child in envelope.children] == [first, bad]
        for _ in range(3):  # the envelope, its first job, the corrupt one
            if tree.cursor_node is not None and (tree.cursor_node.data or {}).get("job_id") == bad:
                break
            await pilot.press("down")
        assert tree.cursor_node is not None and tree.cursor_node.data["job_id"] == bad
        said = lambda: [n.message for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: any(f"job {bad}: {named}" in m for m in said()), "the notice")
        assert app.is_running
