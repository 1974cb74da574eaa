"""With a policy, the dashboard shows the actor only the jobs of projects they may view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import Status
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.service.actions import Actions
from jobtui.screens.dialogs import ConfirmDialog
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.status_style import SYMBOLS
from jobtui.widgets.statusbar import StatusBar
from tests.support.pilot import SIZE, monitor, open_envelopes, painted, simple, submit_envelope, until

Submit = Callable[..., int]

POLICY = """\
[roles.web_viewer]
actions = ["action.job.view_monitor"]
projects = ["web"]

[users]
alice = ["web_viewer"]
"""


async def test_alice_sees_only_web_jobs_and_the_header_counts_only_them(store: Store, submit: Submit) -> None:
    web = [submit(simple(f"web-{n}", 'project = "web"')) for n in range(2)]
    for n in range(3):
        submit(simple(f"ops-{n}", 'project = "ops"'))
    alice = Actor("alice", parse_policy(POLICY, "policy.toml"))
    app = JobtuiApp(store, alice, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        bar = screen.query_one(StatusBar)
        await until(pilot, lambda: table.total > 0 and "alice" in str(bar.render()), "rows and the header")
        await pilot.pause(0.2)
        assert table.total == 2
        shown = [table.row_at(index) for index in range(table.total)]
        assert sorted(row.id for row in shown if row is not None) == sorted(web)
        assert {row.project for row in shown if row is not None} == {"web"}
        # The header's counts: only web's two READY jobs, not all five (and no other status).
        counts = str(bar.render()).split("alice")[0]
        assert f"{SYMBOLS[Status.READY]}2 " in counts, counts
        assert f"{SYMBOLS[Status.READY]}5" not in counts, counts


async def test_the_envelopes_view_shows_alice_only_the_envelopes_she_may_view(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    submit_envelope(actions, tmp_path / "w", "web-release", {"a": "true"}, project="web")
    submit_envelope(actions, tmp_path / "o", "ops-release", {"b": "true"}, project="ops")
    alice = Actor("alice", parse_policy(POLICY, "policy.toml"))
    app = JobtuiApp(store, alice, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        tree = await open_envelopes(pilot)
        await until(pilot, lambda: len(tree.root.children) > 0, "the tree")
        await pilot.pause(0.3)
        shown = [str(node.label) for node in tree.root.children]
        assert any("web-release" in label for label in shown), shown
        assert not any("ops-release" in label for label in shown), shown


async def test_the_clear_dialog_counts_the_jobs_it_cancels_in_projects_the_user_may_not_view(
    store: Store, submit: Submit, actions: Actions
) -> None:
    """The clear cancels every project's queued jobs; the dialog counted only web's (2 where it canceled
    5). Now it says 5, and that 3 of them are in projects alice may not view, without naming them."""
    for n in range(2):
        submit(simple(f"web-{n}", 'project = "web"'))
    for n in range(3):
        submit(simple(f"ops-secret-{n}", 'project = "ops"'), at="+1h")
    policy = POLICY.replace('alice = ["web_viewer"]', 'alice = ["web_viewer", "queue_admin"]') + (
        '\n[roles.queue_admin]\nactions = ["action.queue.admin"]\nprojects = ["*"]\n'
    )
    alice = Actor("alice", parse_policy(policy, "policy.toml"))
    app = JobtuiApp(store, alice, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: monitor(pilot).query_one(JobTable).total == 2, "web's rows")
        await pilot.press("C")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        text = " ".join(painted(pilot.app.screen)[0].split())
        assert "Cancels 5 jobs queued now." in text, text
        assert "Of them, 3 jobs in projects you cannot view: canceled too." in text, text
        assert "Of them, 3 jobs not due yet" in text, text
        assert "ops" not in text, text
        await pilot.press("y")
        await until(pilot, lambda: actions.queued().jobs == 0, "the clear")
    assert actions.queue_state().queued == 0
