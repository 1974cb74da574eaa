"""The monitor's listing in scope: only the projects the actor may view, in rows, positions and counts."""

from __future__ import annotations

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor, Policy, Role
from jobtui.engine.read.listing import ALL_PROJECTS, JobFilter, JobListing, JobSort, scope_of
from jobtui.engine.service.actions import Actions
from tests.support.helpers import definition

BACKENDS = ("sqlite", "postgresql")
VIEW = "action.job.view_monitor"


def policy(**roles: tuple[frozenset[str], frozenset[str]]) -> Policy:
    return Policy(
        "test.toml",
        {name: Role(name, actions, projects) for name, (actions, projects) in roles.items()},
        {"alice": tuple(roles)},
    )


def test_scope_of_an_actor() -> None:
    assert scope_of(Actor("alice")) == ALL_PROJECTS  # single-user mode
    everywhere = policy(viewer=(frozenset({VIEW}), frozenset({"*"})))
    assert scope_of(Actor("alice", everywhere)) == ALL_PROJECTS
    web = policy(
        viewer=(frozenset({VIEW}), frozenset({"web"})),
        canceler=(frozenset({"action.job.cancel"}), frozenset({"ops"})),  # no view: does not widen it
    )
    assert scope_of(Actor("alice", web)) == frozenset({"web"})
    assert scope_of(Actor("bob", web)) == frozenset()


@pytest.fixture
def ids(actions: Actions) -> dict[str, list[int]]:
    made: dict[str, list[int]] = {"web": [], "ops": [], "payments": []}
    for n in range(9):
        project = ["web", "ops", "payments"][n % 3]
        made[project] += actions.submit_many(
            definition(f'name = "job-{n}"\nproject = "{project}"\ntargets = ["host-{n}"]\n'), 2
        )
    return made


def test_rows_positions_and_counts_cover_only_the_scope(store: Store, ids: dict[str, list[int]]) -> None:
    everything = JobListing(store.reader)
    assert everything.count(JobFilter()) == 18
    web = JobListing(store.reader, frozenset({"web"}))
    flt, order = JobFilter(), JobSort()
    rows = web.window(flt, order, 0, 100)
    assert sorted(r.id for r in rows) == sorted(ids["web"])
    assert {r.project for r in rows} == {"web"}
    assert web.count(flt) == 6
    assert web.count(JobFilter(text="job")) == 6
    assert web.count(JobFilter(statuses=frozenset({"READY"}))) == 6
    assert web.status_counts() == {"READY": 6}
    assert sum(everything.status_counts().values()) == 18
    for index, row in enumerate(rows):
        assert web.position_of(flt, order, row.id) == index
    assert web.position_of(flt, order, ids["ops"][0]) is None
    assert set(web.rows_by_id([ids["web"][0], ids["ops"][0]])) == {ids["web"][0]}
    two = JobListing(store.reader, frozenset({"web", "ops"}))
    assert two.count(flt) == 12
    assert {r.project for r in two.window(flt, JobSort("project"), 0, 100)} == {"web", "ops"}
    nothing = JobListing(store.reader, frozenset())
    assert nothing.count(flt) == 0
    assert nothing.window(flt, order, 0, 100) == []
    assert nothing.status_counts() == {}
    assert nothing.position_of(flt, order, ids["web"][0]) is None
