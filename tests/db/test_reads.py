"""The scoped read path: every question about a job or an envelope answers only what the actor may view,
and refuses the rest naming the verb that asked, the same for the CLI and the dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor, PermissionRefused, Policy, Role
from jobtui.engine.service.actions import Actions, UnknownJob
from jobtui.engine.service.reads import Reads
from tests.support.helpers import definition
from tests.support.pilot import submit_envelope

BACKENDS = ("sqlite", "postgresql")
VIEW = "action.job.view_monitor"


@pytest.fixture
def alice() -> Actor:
    """May view project web only."""
    policy = Policy(
        "test.toml", {"viewer": Role("viewer", frozenset({VIEW}), frozenset({"web"}))}, {"alice": ("viewer",)}
    )
    return Actor("alice", policy)


def _job(actions: Actions, name: str, project: str) -> int:
    return actions.submit(
        definition(f'name = "{name}"\nproject = "{project}"\n[[run]]\nrun = "true"\n'), keep=True
    )


@pytest.mark.parametrize(
    ("ask", "verb"),
    [
        (lambda reads, job: reads.detail(job, "show"), "show"),
        (lambda reads, job: reads.log_path(job, "log"), "log"),
        (lambda reads, job: reads.audit(job, "audit"), "audit"),
        (lambda reads, job: reads.job(job, "jobs"), "jobs"),
    ],
)
def test_a_job_of_a_project_the_actor_may_not_view_is_refused_naming_the_verb(
    store: Store, actions: Actions, alice: Actor, ask: object, verb: str
) -> None:
    ops = _job(actions, "secret", "ops")
    web = _job(actions, "open", "web")
    reads = Reads(store, alice)
    with pytest.raises(PermissionRefused) as refused:
        ask(reads, ops)  # type: ignore[operator]
    assert str(refused.value) == f"{verb}: alice lacks {VIEW} on project ops"
    assert ask(reads, web) is not None  # type: ignore[operator]


def test_the_pane_of_a_job_the_actor_may_not_view_stays_empty(
    store: Store, actions: Actions, alice: Actor
) -> None:
    ops = _job(actions, "secret", "ops")
    web = _job(actions, "open", "web")
    reads = Reads(store, alice)
    assert reads.pane(ops) is None
    pane = reads.pane(web)
    assert pane is not None and pane.job["name"] == "open" and pane.audit


def test_an_unknown_job_is_bad_input_naming_the_verb(store: Store, alice: Actor) -> None:
    with pytest.raises(UnknownJob, match=r"^log: no job 99$"):
        Reads(store, alice).log_path(99, "log")


def test_job_lists_leave_out_jobs_the_actor_may_not_view_before_the_limit(
    store: Store, actions: Actions, alice: Actor
) -> None:
    web = [_job(actions, f"web-{n}", "web") for n in range(2)]
    for n in range(3):
        _job(actions, f"ops-{n}", "ops")  # newer: a limit applied before the scope would return only these
    listed = Reads(store, alice).jobs([], None, False, 2)
    assert sorted(job["id"] for job in listed) == web


def test_the_envelope_tree_shows_only_envelopes_and_loose_jobs_the_actor_may_view(
    store: Store, actions: Actions, alice: Actor, tmp_path: Path
) -> None:
    web_envelope, web_jobs = submit_envelope(
        actions, tmp_path / "w", "web-release", {"a": "true"}, project="web"
    )
    ops_envelope, _ = submit_envelope(actions, tmp_path / "o", "ops-release", {"b": "true"}, project="ops")
    loose_web = _job(actions, "loose-web", "web")
    _job(actions, "loose-ops", "ops")

    everyone = Reads(store, Actor("tester")).envelope_tree()
    assert {e.id for e in everyone.envelopes} == {web_envelope, ops_envelope}
    tree = Reads(store, alice).envelope_tree()
    assert [e.id for e in tree.envelopes] == [web_envelope]
    assert [job.id for job in tree.envelopes[0].jobs] == web_jobs
    assert [job.id for job in tree.loose] == [loose_web]
    assert set(tree.stats) <= {*web_jobs, loose_web}


@pytest.mark.parametrize("limit", [0, 5])
def test_a_job_list_read_a_page_at_a_time_lists_what_one_read_did(
    store: Store, actions: Actions, alice: Actor, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Read whole, `jobtui jobs` held every job in memory at once (200,000 jobs: 1.8 GB). Pages of three
    here: the scope, the limit, the order and a row changed by hand come out as from one read."""
    from sqlalchemy import text

    from jobtui.engine.service import reads

    monkeypatch.setattr(reads, "JOB_PAGE", 3)
    web = [_job(actions, f"web-{n}", "web") for n in range(8)]
    for n in range(2):
        _job(actions, f"ops-{n}", "ops")
    bad = web[3] if store.is_sqlite else None  # PostgreSQL keeps no text in a date column
    if bad is not None:
        with store.write() as s:  # a date that is no date, in the second page
            s.execute(text(f"UPDATE jobs SET created_at = 'garbage' WHERE id = {bad}"))
    listed, problems = Reads(store, alice).jobs_readable([], None, False, limit)
    # The limit counts the rows read, a row changed by hand among them (named, not listed).
    newest_first = list(reversed(web))[: limit or None]
    assert [job["id"] for job in listed] == [job_id for job_id in newest_first if job_id != bad]
    said = [f'database: job {bad}: created_at "garbage" is not a date'] if bad is not None else []
    assert [str(problem) for problem in problems] == said
