"""The dashboard honours the policy stored in its database: $JOBTUI_POLICY cannot widen what it shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jobtui.app
from jobtui.app import JobtuiApp, run_app
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor, login_name
from jobtui.engine.service.policy import PolicyAdmin, actor_for_url
from jobtui.widgets.job_table import JobTable
from tests.support.pilot import SIZE, monitor, simple, until

Submit = Callable[..., int]
ME = login_name()

WEB_ONLY = f"""\
[roles.web]
actions = ["action.job.view_monitor"]
projects = ["web"]

[roles.admin]
actions = ["action.admin.policy"]

[users]
"{ME}" = ["web"]
alice = ["admin"]
"""

EVERYTHING = f"""\
[roles.all]
actions = ["action.job.view_monitor"]

[users]
"{ME}" = ["all"]
"""


async def test_the_dashboard_shows_only_what_the_stored_policy_lets_it(
    store: Store, submit: Submit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    web = submit(simple("web-1", 'project = "web"'))
    for n in range(2):
        submit(simple(f"ops-{n}", 'project = "ops"'))
    PolicyAdmin(store, Actor(ME)).install(WEB_ONLY, "web.toml")
    everything = tmp_path / "everything.toml"
    everything.write_text(EVERYTHING)
    monkeypatch.setenv("JOBTUI_POLICY", str(everything))

    # run_app's own resolution (no actor handed in): the stored policy, not $JOBTUI_POLICY.
    seen: list[JobtuiApp] = []

    def fake_run_dashboard(app: JobtuiApp, **_options: Any) -> int:
        seen.append(app)
        return 0

    monkeypatch.setattr(jobtui.app, "run_dashboard", fake_run_dashboard)
    assert run_app(store.url, lang="en") == 0
    [opened] = seen
    actor = opened.backend.actor
    assert actor.user == ME and actor.policy is not None
    assert actor.policy.source.startswith("the database's policy")

    app = JobtuiApp(store, actor_for_url(store.url, lambda: None), embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total > 0, "rows")
        await pilot.pause(0.2)
        assert table.total == 1
        row = table.row_at(0)
        assert row is not None and row.id == web and row.project == "web"


async def test_a_dashboard_open_when_the_policy_changes_closes_saying_so(
    store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobtui.app, "ENGINE_WATCH_S", 0.1)
    submit(simple("web-1", 'project = "web"'))
    actor = actor_for_url(store.url, lambda: None)
    assert actor.policy is None, "single-user: nothing stored yet"
    app = JobtuiApp(store, actor, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total > 0, "rows")
        await pilot.pause(0.3)
        assert app.failed is None, "an unchanged policy keeps the dashboard open"
        PolicyAdmin(store, Actor(ME)).install(WEB_ONLY, "web.toml")
        await until(pilot, lambda: app.failed is not None, "the dashboard to notice the new policy")
    assert app.return_code == 1
    assert f"the database's policy was installed by {ME}" in str(app.failed)

    # Opened under the stored policy: replacing it closes the dashboard as well.
    actor = actor_for_url(store.url, lambda: None)
    app = JobtuiApp(store, actor, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.failed is None
        PolicyAdmin(store, Actor("alice", actor.policy)).remove()
        await until(pilot, lambda: app.failed is not None, "the dashboard to notice the removal")
    # "open the dashboard again to work under it" (found by an operator: there was no "it" left).
    assert str(app.failed) == (
        "jobtui: the database's policy was removed; "
        "open the dashboard again to work under the rules now in force"
    )
